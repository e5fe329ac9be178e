import Foundation

/// The photo a vCard carries in itself: vCard 3.0 `ENCODING=b` (or Apple's bare `BASE64`
/// parameter) with a `TYPE`, or a vCard 4.0 `data:` URI. A photo given only as a link has no
/// bytes here and is nil, as is a card without one.
public enum VCardPhoto {
    public static func inline(in vcard: Data) -> (bytes: Data, type: String)? {
        // Unfolding (RFC 6350 §3.2): a line break followed by one space or tab continues the line.
        let text = String(decoding: vcard, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
            .replacingOccurrences(of: "\n ", with: "").replacingOccurrences(of: "\n\t", with: "")
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            var head = line[..<colon].split(separator: ";", omittingEmptySubsequences: false)
            guard !head.isEmpty else { continue }
            let name = head.removeFirst().split(separator: ".").last.map { $0.uppercased() }
            guard name == "PHOTO" else { continue }
            let value = line[line.index(after: colon)...]
            if value.hasPrefix("data:"), let comma = value.firstIndex(of: ",") {
                let meta = value[value.index(value.startIndex, offsetBy: 5)..<comma].split(separator: ";")
                guard meta.contains(where: { $0.lowercased() == "base64" }),
                      let bytes = Data(base64Encoded: String(value[value.index(after: comma)...]), options: .ignoreUnknownCharacters)
                else { return nil }
                return (bytes, meta.first.map(String.init).flatMap { $0.contains("/") ? $0 : nil } ?? "application/octet-stream")
            }
            var base64 = false
            var type: String?
            for p in head {
                let kv = p.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased() }
                switch (kv.first ?? "", kv.count == 2 ? kv[1] : nil) {
                case ("encoding", let v?): base64 = v == "b" || v == "base64"
                case ("base64", nil), ("b", nil): base64 = true
                // A vCard 2.1 bare `BASE64` read by a 3.0 parser (Cyrus) comes back as a TYPE.
                case ("type", "base64"?), ("type", "b"?): base64 = true
                case ("type", let v?): type = v.contains("/") ? v : "image/" + v
                case (let bare, nil) where ["jpeg", "jpg", "png", "gif"].contains(bare): type = "image/" + bare
                default: break
                }
            }
            guard base64, let bytes = Data(base64Encoded: String(value), options: .ignoreUnknownCharacters), !bytes.isEmpty else { return nil }
            return (bytes, (type ?? sniff(bytes)).replacingOccurrences(of: "image/jpg", with: "image/jpeg"))
        }
        return nil
    }

    /// The image type from the first bytes, for a photo whose card does not say.
    public static func sniff(_ bytes: Data) -> String {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "image/png" }
        if bytes.starts(with: Array("GIF8".utf8)) { return "image/gif" }
        return "image/jpeg"
    }
}
