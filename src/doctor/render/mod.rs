//! The only code that formats a [`Report`](super::Report): [`human`] for a
//! terminal, [`json`] for machines. Both render the same report.

pub mod human;
pub mod json;

#[cfg(test)]
mod tests {
    use crate::doctor::fixture::*;

    /// Both renderings of one fixture (a web client outside the FIFO's
    /// group), as snapshots: a change in wording, order or fields shows up
    /// in review (`src/doctor/render/snapshots/`). docs/doctor.md quotes the
    /// JSON one.
    #[test]
    fn reports_of_a_fixture() {
        let mut f = Fixture::new();
        f.server("/tmp/opensips_fifo", 0o660);
        let r = f.as_apache("/tmp/opensips_fifo");
        insta::assert_snapshot!("group_not_member_human", super::human::render(&r));
        let json = super::json::render(&r);
        insta::assert_snapshot!("group_not_member_json", json);
        // docs/doctor.md shows this very report as its JSON example.
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/doctor.md"))
            .unwrap();
        let start = doc.find("```json\n").expect("a JSON example") + "```json\n".len();
        let len = doc[start..].find("```").unwrap();
        assert_eq!(
            &doc[start..start + len],
            json,
            "docs/doctor.md's JSON example"
        );
    }
}
