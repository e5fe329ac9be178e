import Digest
import Formats
import Foundation
import JMAP
import Store

/// Contact photos across dialects. Neither side's photo can be sent as it is: a vendor contact's
/// `avatar` is server-set (and Cyrus reports only some of the photos its vCards hold), and an RFC
/// 9610 card names its photo by a blob id of the source server (RFC 9610 §3: `blobId` on
/// `media`). So the photo's bytes are found in the mirror's store, uploaded to the target, and
/// set there as `avatar` or as a `media` entry of kind `photo`.
extension CollectionReplay {
    struct Photo: Equatable {
        enum Source: Equatable {
            /// Inside the stored vCard with this SHA-256.
            case vCard(String)
            /// The stored blob with this SHA-256.
            case blob(String)
            /// A `data:` URI in the card itself.
            case dataURI(String)
        }

        var source: Source
        var type: String
        var size: Int
        /// Of the photo's own bytes: compared with the target's photo blob.
        var sha256: String
    }

    enum PhotoState: Equatable {
        case absent
        case present(Photo)
    }

    /// A vendor contact's photo, read from its stored vCard: the vCard decides. Unknown (nil)
    /// when the vCard is not stored, or when `avatar` names a photo the vCard only links to.
    func vendorPhoto(_ row: VersionRow, _ json: [String: JSONValue]) -> PhotoState? {
        guard let blobId = json["blobId"]?.stringValue, let sha = row.blobs[blobId],
              let card = FileManager.default.contents(atPath: items.objects.path(sha)) else { return nil }
        if let photo = VCardPhoto.inline(in: card) {
            return .present(Photo(source: .vCard(sha), type: photo.type, size: photo.bytes.count, sha256: SHA256Hasher.hex(of: photo.bytes)))
        }
        return (json["avatar"]?.isNull ?? true) ? .absent : nil
    }

    /// A card's photo: its first `media` entry of kind `photo` that holds bytes (a blob the
    /// mirror stored, or a `data:` URI). A photo given only as a link stays in the card as it is;
    /// nil when a photo's blob is not in the store.
    func cardPhoto(_ row: VersionRow, _ json: [String: JSONValue]) -> PhotoState? {
        for (_, m) in Self.carriedPhotos(json) {
            if let blobId = m["blobId"]?.stringValue {
                guard let sha = row.blobs[blobId], let bytes = FileManager.default.contents(atPath: items.objects.path(sha)) else { return nil }
                return .present(Photo(source: .blob(sha), type: m["mediaType"]?.stringValue ?? VCardPhoto.sniff(bytes), size: bytes.count, sha256: sha))
            }
            if let uri = m["uri"]?.stringValue, let (bytes, type) = Self.decodeDataURI(uri) {
                return .present(Photo(source: .dataURI(uri), type: m["mediaType"]?.stringValue ?? type, size: bytes.count,
                                      sha256: SHA256Hasher.hex(of: bytes)))
            }
        }
        return .absent
    }

    /// The `media` entries of kind `photo` whose bytes travel separately (a blob or a `data:` URI).
    static func carriedPhotos(_ card: [String: JSONValue]) -> [(key: String, value: JSONValue)] {
        (card["media"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.filter { _, m in
            (m["kind"]?.stringValue ?? "photo") == "photo"
                && (m["blobId"]?.stringValue != nil || m["uri"]?.stringValue?.lowercased().hasPrefix("data:") == true)
        }
    }

    /// A card without its carried photos: they are written from the photo, not from the source's
    /// blob ids, which mean nothing on the target.
    static func withoutCarriedPhotos(_ card: [String: JSONValue]) -> [String: JSONValue] {
        guard case var .object(media) = card["media"] ?? .null else { return card }
        for (key, _) in carriedPhotos(card) { media[key] = nil }
        var out = card
        out["media"] = media.isEmpty ? nil : .object(media)
        return out
    }

    static func decodeDataURI(_ uri: String) -> (Data, String)? {
        guard uri.lowercased().hasPrefix("data:"), let comma = uri.firstIndex(of: ",") else { return nil }
        let meta = uri[uri.index(uri.startIndex, offsetBy: 5)..<comma].split(separator: ";")
        guard meta.contains(where: { $0.lowercased() == "base64" }),
              let bytes = Data(base64Encoded: String(uri[uri.index(after: comma)...]), options: .ignoreUnknownCharacters) else { return nil }
        return (bytes, meta.first.map(String.init).flatMap { $0.contains("/") ? $0 : nil } ?? VCardPhoto.sniff(bytes))
    }

    func photoBytes(_ photo: Photo) -> Data? {
        switch photo.source {
        case let .vCard(sha): FileManager.default.contents(atPath: items.objects.path(sha)).flatMap { VCardPhoto.inline(in: $0)?.bytes }
        case let .blob(sha): FileManager.default.contents(atPath: items.objects.path(sha))
        case let .dataURI(uri): Self.decodeDataURI(uri)?.0
        }
    }

    /// SHA-256 of each target card's photo (its blob's digest, or its `data:` URI's bytes), by
    /// card id: what says whether a card already has the source's photo.
    func targetCardPhotos(_ shape: Shape, _ targetByUid: [String: [String: (id: String, json: [String: JSONValue])]]) async throws -> [String: String] {
        guard shape.itemTypes.contains("ContactCard") else { return [:] }
        var blobOf: [String: String] = [:], out: [String: String] = [:]
        for c in (targetByUid["ContactCard"] ?? [:]).values.map(\.json) {
            guard let id = c["id"]?.stringValue, let (_, m) = Self.carriedPhotos(c).first else { continue }
            if let blob = m["blobId"]?.stringValue { blobOf[id] = blob } else if let (bytes, _) = m["uri"]?.stringValue.flatMap(Self.decodeDataURI) {
                out[id] = SHA256Hasher.hex(of: bytes)
            }
        }
        guard !blobOf.isEmpty else { return out }
        let digests = try await items.target.digests(of: Array(Set(blobOf.values)), catalog: items.catalog, scratch: items.objects.temporaryDirectory)
        for (id, blob) in blobOf { out[id] = digests[blob] }
        return out
    }

    /// Whether the target's object has the photo the item says: a vendor contact's `avatar` by
    /// size (the target cuts its own blob out of its own vCard), a card's photo by SHA-256.
    static func samePhoto(_ target: [String: JSONValue], _ s: Item, cardPhotos: [String: String]) -> Bool {
        let targetCard = s.type == "ContactCard"
        let targetSHA = target["id"]?.stringValue.flatMap { cardPhotos[$0] }
        switch s.photo {
        case nil: return true
        case .absent?: return targetCard ? carriedPhotos(target).isEmpty : target["avatar"]?.isNull ?? true
        case let .present(p)?: return targetCard ? targetSHA == p.sha256 : target["avatar"]?["size"]?.intValue == p.size
        }
    }

    /// The item's photo, uploaded to the target: the `avatar` of a vendor contact, or the `media`
    /// entry of a card. A photo the target will not take is reported and the contact carried
    /// without it.
    func uploadPhoto(_ item: Item, _ report: inout KindReport) async throws -> JSONValue? {
        guard case let .present(photo)? = item.photo else { return nil }
        guard let bytes = photoBytes(photo) else {
            report.refused.append(Refusal(kind: kind.rawValue, item: item.uid, reason: "its photo is not in the mirror's store; carried without it"))
            return nil
        }
        do {
            let blob = try await items.target.client.upload(accountId: items.target.accountId, data: bytes, type: photo.type)
            if item.type == "ContactCard" {
                return ["@type": "Media", "kind": "photo", "blobId": .string(blob.blobId), "mediaType": .string(photo.type)]
            }
            return ["blobId": .string(blob.blobId), "type": .string(photo.type), "size": .int(Int64(bytes.count))]
        } catch let e as JMAPError where e.isRefusal {
            report.refused.append(Refusal(kind: kind.rawValue, item: item.uid, reason: "its photo was refused (\(e)); carried without it"))
            return nil
        }
    }
}
