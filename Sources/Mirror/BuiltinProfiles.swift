// The shipped profiles, compiled into the binary so that no file planted in a working directory
// can change where an account connects (and where its token goes). `profiles/*.toml` is the
// source; `ConfigTests` fails when this file and those differ.

extension ProfileCatalog {
    static let builtin: [String: String] = [
        "cyrus": #"""
            # Cyrus IMAP 3.x with its httpd JMAP module (self-hosted, and the base of several hosted providers).
            name = "Cyrus IMAP"
            # No fixed host: give url = "https://your.host/.well-known/jmap" (Cyrus answers it with a 301 to /jmap).
            auth = "basic"

            quirks = [
              "Session URLs are relative (apiUrl \"/jmap/\"); /.well-known/jmap answers 301.",
              "Speak HTTP/2: on HTTP/1.1 a reused connection stalls ~40 ms per response (Nagle + delayed ACK). Over plain HTTP only the h2c upgrade works, not prior knowledge.",
              "Contacts, Sieve and batched Blob/get appear only under Cyrus vendor URNs (https://cyrusimap.org/ns/jmap/*), and only with jmap_nonstandard_extensions enabled.",
              "Destroying any mailbox makes Email/changes from every earlier state fail with cannotCalculateChanges; a made-up state gives invalidArguments. Both mean: resync.",
              "Email and blob ids are content hashes: the same message has the same ids in two accounts of one server.",
              "CalendarEvent/set sends iMIP invitations unless sendSchedulingMessages: false is given explicitly.",
              "Blob/upload blobs (vendor blob capability) live for one request only: use them by #reference in the same request.",
              "Enabling VacationResponse deactivates the user's own active Sieve script.",
              "Push (EventSource, WebSocket) is not available in Debian's builds: EventSource answers 204.",
            ]
            sources = [
              "Measured against cyrus-imapd 3.10.1 from Debian bookworm-backports (jmirror's test server, contrib/test-server).",
              "Cyrus source: imap/jmap_api.h, imap/jmap_contact.c, imap/jmap_calendar.c.",
            ]

            [limits]
            # Measured on Debian's cyrus-imapd 3.10.1 (bookworm-backports) with default settings.
            maxObjectsInGet = 4096
            maxObjectsInSet = 4096
            maxCallsInRequest = 50
            maxConcurrentRequests = 5
            maxConcurrentUpload = 5
            maxSizeUpload = 1073741824
            maxSizeRequest = 10485760
            """#,
        "fastmail": #"""
            # Fastmail (hosted, Cyrus-based). Create an API token under Settings → Privacy & Security →
            # Integrations and use it with auth = "bearer".
            name = "Fastmail"
            session_url = "https://api.fastmail.com/jmap/session"
            auth = "bearer"

            quirks = [
              "Legacy contacts (Contact/ContactGroup) are gated by the vendor URN https://www.fastmail.com/dev/contacts.",
              "Calendars carry an isRFC flag in the vendor calendars capability; contacts do not.",
              "Cyrus-based: expect the Cyrus quirks (cannotCalculateChanges after a mailbox is destroyed, content-hash ids).",
            ]
            sources = [
              "API endpoint https://api.fastmail.com/jmap/api/ and vendor URNs https://www.fastmail.com/dev/{contacts,calendars,backup,mail,maskedemail,filenode}: third-party client code (no first-party documentation found).",
            ]

            [limits]
            # Not measured by jmirror: read the real values with `jmirror doctor`.
            """#,
        "stalwart": #"""
            # Stalwart Mail Server (self-hosted). No fixed host: url = "https://your.host/.well-known/jmap".
            name = "Stalwart"
            auth = "basic"

            quirks = [
              "URLs: {base}/jmap/, /jmap/download/{accountId}/{blobId}/{name}?accept={type}, /jmap/upload/{accountId}/, /jmap/eventsource/, /jmap/ws.",
              "Speaks the IETF dialects: contacts (RFC 9610), calendars, Sieve (RFC 9661), blob (RFC 9404), quota, websocket, principals.",
              "CalendarEvent/set rejects updates and destroys addressed to synthetic ids.",
              "Events are stored as iCalendar: expect them normalised after a round trip.",
            ]
            sources = [
              "Stalwart source (capability enum) and a captured Session; see shared/docs/jmap-protocol.md §7.",
            ]

            [limits]
            # Stalwart's defaults as seen in its source and a captured session.
            maxObjectsInGet = 500
            maxCallsInRequest = 16
            maxConcurrentRequests = 4
            """#,
    ]
}
