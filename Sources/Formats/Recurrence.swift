import CICal

/// Recurrence expansion, by libical (what Cyrus itself uses), for the few questions the
/// conversion to iCalendar has to ask of a rule.
enum Recurrence {
    /// Whether `rule` (an RRULE value, UNTIL in local time) starting at `start` generates `at`;
    /// nil when libical is not installed or the rule does not parse.
    static func generates(_ rule: String, start: LocalDateTime, at: LocalDateTime, asDate: Bool) -> Bool? {
        let value = { (t: LocalDateTime) in asDate ? t.basicDate : t.basic }
        switch jm_ical_rule_generates(rule, value(start), value(at), 100_000) {
        case 1: return true
        case 0: return false
        default: return nil
        }
    }
}
