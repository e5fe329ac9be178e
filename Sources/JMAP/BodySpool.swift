import Foundation

/// Writes a request whose arguments name files (`Request.base64(ofFile:)`) to a temporary file,
/// the files' base64 streamed in place of their placeholders. Peak memory is one chunk, not the
/// batch: with 2 MB batches and four in flight, a 3,000-message replay peaked at 100 MB with the
/// base64 held as strings (and 171 MB with 4 MB batches).
enum BodySpool {
    static func write(_ request: Request) throws -> String {
        let json = try request.body()
        var template = Array((NSTemporaryDirectory() + "/jmirror-request-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let spool = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard fd >= 0 else { throw JMAPError.transport(url: spool, underlying: String(cString: strerror(errno)), retryable: false) }
        defer { close(fd) }
        var done = false
        defer { if !done { unlink(spool) } }
        var ok = true
        func put(_ d: Data) {
            d.withUnsafeBytes { raw in
                var off = 0
                while ok, off < raw.count {
                    let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                    if n <= 0 { ok = false } else { off += n }
                }
            }
        }
        // Placeholders are JSON strings, `"\u0001jmirror-file-N\u0001"` once encoded: one pass
        // over the (small) JSON finds them; Data.range(of:) took 84% of a replay's CPU.
        let bytes = [UInt8](json)
        let prefix = Array("\"\\u0001jmirror-file-".utf8)
        let suffix = Array("\\u0001\"".utf8)
        var copied = 0, i = 0
        while i + prefix.count <= bytes.count {
            guard bytes[i] == prefix[0], Array(bytes[i..<i + prefix.count]) == prefix else { i += 1; continue }
            var j = i + prefix.count
            while j < bytes.count, bytes[j] >= 0x30, bytes[j] <= 0x39 { j += 1 }
            guard j + suffix.count <= bytes.count, Array(bytes[j..<j + suffix.count]) == suffix,
                  let source = request.attachments["\u{1}jmirror-file-" + String(decoding: bytes[(i + prefix.count)..<j], as: UTF8.self) + "\u{1}"]
            else { i += 1; continue }
            put(Data(bytes[copied..<i]))
            put(Data("\"".utf8))
            guard let input = FileHandle(forReadingAtPath: source) else {
                throw JMAPError.transport(url: source, underlying: "cannot read the file to send", retryable: false)
            }
            defer { try? input.close() }
            while true {
                let chunk = input.readData(ofLength: 3 * 262_144)
                if chunk.isEmpty { break }
                put(chunk.base64EncodedData())
            }
            put(Data("\"".utf8))
            i = j + suffix.count
            copied = i
        }
        put(Data(bytes[copied...]))
        guard ok else {
            throw JMAPError.transport(url: spool, underlying: "cannot write the request body: \(String(cString: strerror(errno)))", retryable: false)
        }
        done = true
        return spool
    }
}
