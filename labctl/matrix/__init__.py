"""`labctl matrix`: topology x fault x redundancy mode x timers, each cell a fresh lab, judged against the
expectations written in the matrix file; JUnit/JSON/HTML reports."""
