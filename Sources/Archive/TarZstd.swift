import CArchive
import Foundation

/// What can go wrong reading or writing an archive; the CLI maps `damaged` to exit 66.
public struct ArchiveError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case damaged, usage, io }
    public var kind: Kind
    public var message: String
    public var description: String { message }
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// A pax tar stream compressed with zstd, written through libarchive with fixed metadata (mtime 0,
/// uid/gid 0, mode 0644, no user names), so that the same entries give the same bytes.
final class TarWriter {
    private let a: OpaquePointer
    private let entry: OpaquePointer

    /// `fd`: an open file (or standard output), written in order, never seeked.
    init(fd: Int32) throws {
        guard jm_archive_available() != 0 else { throw ArchiveError(.io, TarWriter.missingLibrary) }
        guard let a = jm_archive_write_new(), let e = jm_archive_entry_new() else { throw ArchiveError(.io, "libarchive: out of memory") }
        self.a = a
        entry = e
        guard jm_archive_write_add_filter_zstd(a) == ARCHIVE_OK,
              // Measured at 10k messages (contrib/bench/history.sh, median of 5): level 3 with two
              // threads took 2.14 s and 100 MB, level 1 with two threads 2.37 s and 55 MB (archive
              // 1% larger), tar --zstd 3.23 s. Multi-threaded zstd gives the same bytes whatever the
              // number of workers, so archives stay byte-identical across machines.
              jm_archive_write_set_filter_option(a, "zstd", "compression-level", "1") == ARCHIVE_OK,
              jm_archive_write_set_filter_option(a, "zstd", "threads", "2") == ARCHIVE_OK,
              jm_archive_write_set_format_pax_restricted(a) == ARCHIVE_OK,
              jm_archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK, jm_archive_write_open_fd(a, fd) == ARCHIVE_OK else {
            throw ArchiveError(.io, "cannot start the archive: " + TarWriter.message(a))
        }
    }

    deinit {
        jm_archive_entry_free(entry)
        jm_archive_write_free(a)
    }

    static let missingLibrary = "libarchive (libarchive.so.13) cannot be loaded: install Debian's libarchive13"

    static func message(_ a: OpaquePointer) -> String {
        jm_archive_error_string(a).map { String(cString: $0) } ?? "unknown libarchive error"
    }

    private func header(_ path: String, size: Int64, mtime: Int = 0) throws {
        jm_archive_entry_clear(entry)
        jm_archive_entry_set_pathname(entry, path)
        jm_archive_entry_set_size(entry, size)
        jm_archive_entry_set_filetype(entry, jm_ae_ifreg)
        jm_archive_entry_set_perm(entry, 0o644)
        jm_archive_entry_set_mtime(entry, mtime, 0)
        guard jm_archive_write_header(a, entry) == ARCHIVE_OK else { throw ArchiveError(.io, "\(path): " + TarWriter.message(a)) }
    }

    private func write(_ buffer: UnsafeRawBufferPointer, _ path: String) throws {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        guard jm_archive_write_data(a, base, buffer.count) == buffer.count else {
            throw ArchiveError(.io, "\(path): " + TarWriter.message(a))
        }
    }

    func add(_ path: String, data: Data) throws {
        try header(path, size: Int64(data.count))
        try data.withUnsafeBytes { try write($0, path) }
    }

    /// Streams a file in 256 KiB pieces (memory stays flat whatever its size).
    func add(_ path: String, file: String, mtime: Int = 0) throws {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError(.io, "\(file): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ArchiveError(.io, "\(file): \(String(cString: strerror(errno)))") }
        try header(path, size: Int64(st.st_size), mtime: mtime)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        var left = Int64(st.st_size)
        while left > 0 {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ArchiveError(.io, "\(file): changed while being archived") }
            try write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), path)
            left -= Int64(n)
        }
    }

    func close() throws {
        guard jm_archive_write_close(a) == ARCHIVE_OK else { throw ArchiveError(.io, "cannot finish the archive: " + TarWriter.message(a)) }
    }
}

/// Reads entries of any tar/zstd/gzip stream libarchive knows, in order.
final class TarReader {
    private let a: OpaquePointer
    let name: String

    init(fd: Int32, name: String) throws {
        guard jm_archive_available() != 0 else { throw ArchiveError(.io, TarWriter.missingLibrary) }
        guard let a = jm_archive_read_new() else { throw ArchiveError(.io, "libarchive: out of memory") }
        self.a = a
        self.name = name
        jm_archive_read_support_filter_all(a)
        jm_archive_read_support_format_all(a)
        guard jm_archive_read_open_fd(a, fd, 256 * 1024) == ARCHIVE_OK else {
            throw ArchiveError(.damaged, "\(name): damaged, truncated or not an archive (\(TarWriter.message(a)))")
        }
    }

    deinit { jm_archive_read_free(a) }

    /// The next entry's path, size and mtime, or nil at the end.
    func next() throws -> (path: String, size: Int64, mtime: Int)? {
        var e: OpaquePointer?
        let r = jm_archive_read_next_header(a, &e)
        if r == ARCHIVE_EOF { return nil }
        guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let e else {
            throw ArchiveError(.damaged, "\(name): damaged or truncated archive (\(TarWriter.message(a)))")
        }
        return (jm_archive_entry_pathname(e).map { String(cString: $0) } ?? "", jm_archive_entry_size(e), jm_archive_entry_mtime(e))
    }

    /// The current entry's data, piece by piece.
    func read(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = jm_archive_read_data(a, buffer.baseAddress, buffer.count)
            if n == 0 { return }
            guard n > 0 else { throw ArchiveError(.damaged, "\(name): damaged or truncated archive (\(TarWriter.message(a)))") }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    func readAll(limit: Int) throws -> Data {
        var out = Data()
        try read { chunk in
            out.append(contentsOf: chunk)
            if out.count > limit { throw ArchiveError(.damaged, "\(name): an entry is larger than any jmirror writes") }
        }
        return out
    }
}
