import JMAP

/// JSCalendar PatchObject (RFC 8984 §1.4.9): keys are JSON pointers (without the leading `/`),
/// values replace what they point at, and `null` removes it.
public enum Patch {
    public static func apply(_ patch: JSONValue, to base: JSONValue) -> JSONValue {
        var out = base
        for (pointer, value) in (patch.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            let path = pointer.split(separator: "/", omittingEmptySubsequences: false).map {
                $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            }
            out = set(out, path[...], value)
        }
        return out
    }

    static func set(_ node: JSONValue, _ path: ArraySlice<String>, _ value: JSONValue) -> JSONValue {
        guard let key = path.first else { return value }
        var object = node.objectValue ?? [:]
        if path.count == 1 {
            object[key] = value.isNull ? nil : value
        } else {
            object[key] = set(object[key] ?? .object([:]), path.dropFirst(), value)
        }
        return .object(object)
    }
}
