import Digest
import Foundation

/// Hashes and stores object data on a second thread while the reading thread decompresses the
/// next piece (zstd and SHA-256 plus the writes each took about a third of an import; in one
/// thread they added up). At most 16 pieces wait at a time, so memory stays bounded. The first
/// failure stops the work; `drain` reports it.
final class ObjectPipeline<S: ArchiveReader.Sink>: @unchecked Sendable {
    private let queue = DispatchQueue(label: "jmirror.archive.objects")
    private let slots = DispatchSemaphore(value: 16)
    private let hasher = SHA256Hasher()
    private var sink: S
    private let lock = NSLock()
    private var failure: Error?

    init(sink: S) { self.sink = sink }

    /// Whether a failure has been seen (the reader stops early).
    var failed: Bool { lock.withLock { failure != nil } }

    private func fail(_ error: Error) {
        lock.withLock { if failure == nil { failure = error } }
        sink.discard()
    }

    func begin(_ sha256: String) {
        queue.async {
            guard !self.failed else { return }
            do { try self.sink.begin(sha256) } catch { self.fail(error) }
        }
    }

    func write(_ chunk: UnsafeRawBufferPointer) {
        slots.wait()
        let data = Data(chunk)
        queue.async {
            defer { self.slots.signal() }
            guard !self.failed else { return }
            self.hasher.update(data)
            do { try data.withUnsafeBytes { try self.sink.write($0) } } catch { self.fail(error) }
        }
    }

    /// Ends an object: its bytes must hash to its name.
    func finish(_ sha256: String, name: String) {
        queue.async {
            let actual = self.hasher.finalizeHex()
            guard !self.failed else { return }
            guard actual == sha256 else {
                self.fail(ArchiveError(.damaged, "\(name): object \(sha256) is damaged (its bytes hash to \(actual))"))
                return
            }
            do { try self.sink.finish(sha256) } catch { self.fail(error) }
        }
    }

    /// Waits for everything queued; returns the sink, or throws the first failure.
    func drain() throws -> S {
        queue.sync {}
        if let failure = lock.withLock({ failure }) { throw failure }
        return sink
    }

    /// After a failure on the reading side: wait, and drop what the current object left.
    func abandon() {
        queue.sync { sink.discard() }
    }
}
