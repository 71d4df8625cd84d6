//! One way to put an error and its causes on one line, for logs and replies.

/// `error: cause: cause…` on one line (the `{:#}` of anyhow). A cause whose
/// text the message already contains is not repeated.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[derive(Debug)]
    struct Outer(std::io::Error, &'static str);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.1)
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn causes_are_appended_once() {
        let io = || std::io::Error::other("disk on fire");
        assert_eq!(
            chain(&Outer(io(), "cannot write")),
            "cannot write: disk on fire"
        );
        assert_eq!(
            chain(&Outer(io(), "cannot write: disk on fire")),
            "cannot write: disk on fire"
        );
    }
}
