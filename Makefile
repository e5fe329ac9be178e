# The two commands a new machine needs (see README.md): `make demo` and `make test`.
.PHONY: demo test build deps bench clean

demo:
	bash contrib/demo.sh

test:
	bash contrib/test.sh

deps:
	bash contrib/install-deps.sh

build: deps
	swift build -c release --static-swift-stdlib

bench:
	bash contrib/bench/blob-download.sh
	bash contrib/bench/mail-sync.sh
	bash contrib/bench/history.sh
	bash contrib/bench/replay.sh
	bash contrib/bench/daemon.sh
	bash contrib/bench/search.sh

clean:
	rm -rf .build
