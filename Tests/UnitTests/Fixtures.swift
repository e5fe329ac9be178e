import Foundation
import JMAP

enum Fixtures {
    static func json(_ name: String) throws -> JSONValue {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
        return try JSONValue.decode(Data(contentsOf: url))
    }

    /// An IETF-only server's Session, after RFC 8620 §2.1's example with the RFC 9610/9661/9404
    /// capabilities added (as Stalwart advertises them).
    static let ietfSession: JSONValue = [
        "capabilities": [
            "urn:ietf:params:jmap:core": ["maxSizeUpload": 50_000_000, "maxConcurrentUpload": 4, "maxSizeRequest": 10_000_000,
                                          "maxConcurrentRequests": 4, "maxCallsInRequest": 16, "maxObjectsInGet": 500,
                                          "maxObjectsInSet": 500, "collationAlgorithms": []],
            "urn:ietf:params:jmap:mail": [:], "urn:ietf:params:jmap:contacts": [:], "urn:ietf:params:jmap:sieve": ["implementation": "x"],
            "urn:ietf:params:jmap:blob": [:], "urn:ietf:params:jmap:calendars": [:], "urn:ietf:params:jmap:submission": [:],
            "urn:ietf:params:jmap:vacationresponse": [:],
        ],
        "accounts": [
            "A13824": ["name": "john@example.com", "isPersonal": true, "isReadOnly": false,
                       "accountCapabilities": ["urn:ietf:params:jmap:mail": [:], "urn:ietf:params:jmap:contacts": [:],
                                               "urn:ietf:params:jmap:sieve": [:], "urn:ietf:params:jmap:blob": [:],
                                               "urn:ietf:params:jmap:calendars": [:]]],
            "A97813": ["name": "jane@example.com", "isPersonal": false, "isReadOnly": true,
                       "accountCapabilities": ["urn:ietf:params:jmap:mail": [:]]],
        ],
        "primaryAccounts": ["urn:ietf:params:jmap:mail": "A13824"],
        "username": "john@example.com",
        "apiUrl": "https://jmap.example.com/api/",
        "downloadUrl": "https://jmap.example.com/download/{accountId}/{blobId}/{name}?accept={type}",
        "uploadUrl": "https://jmap.example.com/upload/{accountId}/",
        "eventSourceUrl": "https://jmap.example.com/eventsource/?types={types}&closeafter={closeafter}&ping={ping}",
        "state": "75128aab4b1b",
    ]

    static func session(_ json: JSONValue, url: String = "https://jmap.example.com/.well-known/jmap") throws -> Session {
        try Session(json: json, sessionURL: URL(string: url)!)
    }
}
