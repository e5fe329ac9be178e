import ArgumentParser
import Archive
import Foundation
import History
import JMAP
import Mirror
import Store

struct ArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "archive",
        abstract: "Export snapshots as one compressed, verifiable archive (tar + zstd), and import, verify or list archives.",
        subcommands: [Export.self, Import.self, Verify.self, List.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write snapshots, their exact server JSON and every blob they need into one archive.",
            discussion: "Deterministic: the same snapshots (and base) give a byte-identical archive. `-o -` writes to standard output.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Snapshots (ID, ACCOUNT@ID, ACCOUNT@latest).") var snapshots: [String]
        @Option(name: .short, help: "The archive file, or - for standard output.") var output: String
        @Option(help: "An earlier archive: only blobs it does not hold are written (incremental).") var base: String?
        @Option(help: "jmirror (default: deduplicated, exact server JSON, importable) or pdpa (the IETF PDPA draft's layout, one snapshot).")
        var format = "jmirror"
        @Flag(help: "Print one JSON object (on stderr with -o -).") var json = false

        struct Out: Encodable { var result: ArchiveExporter.Result; var exitCode: Int32 = 0 }
        struct PDPAOut: Encodable { var format = "pdpa"; var result: PDPAExporter.Result; var exitCode: Int32 = 0 }

        func run() async throws {
            _ = global.start()
            let o = try Opened.open(global, json: json)
            do {
                guard !snapshots.isEmpty else { throw HistoryError("name at least one snapshot to export") }
                let rows = try snapshots.map { try o.resolve($0) }
                if format == "pdpa" {
                    guard rows.count == 1, base == nil else {
                        throw HistoryError("--format pdpa writes one snapshot, without --base")
                    }
                    let r = try PDPAExporter(store: o.store).export(rows[0], to: output)
                    let line = "PDPA archive of \(rows[0].account)@\(rows[0].shortId): \(r.messages) messages in \(r.folders) folders, "
                        + "\(r.contacts) contacts, \(r.events) events, \(r.scripts) scripts" + (output == "-" ? "" : " -> \(output)")
                    if json { Console.jsonLine(PDPAOut(result: r)) } else if output == "-" { Console.error(line) } else { Console.out(line) }
                    return
                }
                guard format == "jmirror" else { throw HistoryError("--format: jmirror or pdpa, not \(format)") }
                let r = try ArchiveExporter(store: o.store).export(rows, to: output, base: base)
                let line = "archive \(r.archive.prefix(8)): \(r.snapshots.count) snapshots, \(r.objects) objects "
                    + "(\(Console.bytes(r.bytes)) before compression)"
                    + (r.base.map { ", \(r.objectsInBase) more in base \($0.prefix(8))" } ?? "")
                if output == "-" {
                    if json { Console.error(String(decoding: try JSONEncoder().encode(Out(result: r)), as: UTF8.self)) } else { Console.error(line) }
                } else if json {
                    Console.jsonLine(Out(result: r))
                } else {
                    Console.out(line + " -> \(output)")
                }
            } catch {
                throw Console.fail(error, json: json && output != "-")
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Add archives' snapshots and blobs to this mirror (an incremental archive needs its base first, or given too).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Archive files, or - for standard input.") var files: [String]
        @Option(name: .customLong("as"), help: "Import the archive's one account under this name.") var rename: String?
        @Flag(help: "Print one JSON object.") var json = false

        struct Out: Encodable { var archives: [ArchiveImporter.Result]; var exitCode: Int32 = 0 }

        func run() async throws {
            _ = global.start()
            let o = try Opened.open(global, json: json)
            do {
                guard !files.isEmpty else { throw HistoryError("name at least one archive to import") }
                if let rename, !AccountName.isValid(rename) {
                    throw HistoryError("--as: account names may use letters, digits, '.', '_' and '-' (it names a folder)")
                }
                let importer = ArchiveImporter(store: o.store, configured: Set(o.config.accounts.map(\.name)))
                var results: [ArchiveImporter.Result] = []
                for f in try ArchiveImporter.order(files) {
                    let r = try importer.run(f, rename: rename)
                    results.append(r)
                    if !json {
                        Console.out("\(f): archive \(r.archive.allSatisfy(\.isHexDigit) ? String(r.archive.prefix(8)) : r.archive): "
                            + "\(r.snapshotsImported.count) snapshots imported, \(r.snapshotsAlreadyHere.count) already here, "
                            + "\(r.objectsAdded) objects added" + (r.skipped > 0 ? ", \(r.skipped) entries skipped" : ""))
                    }
                }
                if json { Console.jsonLine(Out(archives: results)) }
            } catch {
                throw Console.fail(error, json: json)
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Read a whole archive and re-hash everything in it (needs no mirror); exit 66 when damaged.")

        @Argument(help: "The archive file, or - for standard input.") var file: String
        @Flag(help: "Print one JSON object.") var json = false

        struct Out: Encodable { var ok = true; var summary: ArchiveReader.Summary; var exitCode: Int32 = 0 }

        func run() async throws {
            do {
                let s = try ArchiveReader.verify(file)
                if json { Console.jsonLine(Out(summary: s)) } else if s.archive == "pdpa" {
                    Console.out("PDPA archive is complete and readable: \(s.objects) entries (\(Console.bytes(s.bytes))); PDPA carries no checksums")
                } else {
                    Console.out("archive \(s.archive.prefix(8)) is intact: \(s.snapshots.count) snapshots, \(s.objects) objects re-hashed "
                        + "(\(Console.bytes(s.bytes)))"
                        + (s.base.map { "; incremental on base \($0.prefix(8)), which holds \(s.objectsInBase) more objects" } ?? ""))
                }
            } catch {
                throw Console.fail(error, json: json)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List an archive's snapshots (reads only its manifest; needs no mirror).")

        @Argument(help: "The archive file, or - for standard input.") var file: String
        @Flag(help: "Print one JSON object.") var json = false

        struct Out: Encodable { var archive: String; var base: String?; var snapshots: [Manifest.Snapshot]; var objects: Int; var exitCode: Int32 = 0 }
        struct PDPAOut: Encodable { var format = "pdpa"; var archive: JSONValue; var exitCode: Int32 = 0 }

        func run() async throws {
            do {
                let first = try ArchiveReader.firstEntry(of: file)
                if first.path == "archive.json", let meta = try? JSONValue.decode(first.data) {
                    // A PDPA archive: its metadata is all there is to list without reading it whole.
                    if json { Console.jsonLine(PDPAOut(archive: meta)) } else {
                        Console.out("PDPA archive \(meta["archive"]?["id"]?.stringValue ?? "?"): \(meta["archive"]?["name"]?.stringValue ?? ""), "
                            + "account \(meta["datasource"]?["account"]?.stringValue ?? "?"), \(meta["archive"]?["timestamp"]?.stringValue ?? "")")
                    }
                    return
                }
                let m = try ArchiveReader.manifest(of: file)
                if json {
                    Console.jsonLine(Out(archive: m.id, base: m.base, snapshots: m.snapshots, objects: m.objects.count))
                    return
                }
                Console.out("archive \(m.id)" + (m.base.map { " (incremental on \($0))" } ?? ""))
                Console.table([["ID", "Time", "Account", "Messages", "Objects", "Tags"]] + m.snapshots.map { s in
                    [String(s.id.prefix(8)), SnapshotOut.localTime(Date(timeIntervalSince1970: s.time)), s.account,
                     "\(s.counts["Email"] ?? 0)", "\(s.objects)", s.tags.joined(separator: ",")]
                })
            } catch {
                throw Console.fail(error, json: json)
            }
        }
    }
}
