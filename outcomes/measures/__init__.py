"""Clinical measures: pure functions on data frames (instruments, change, adherence, progression, safety)."""
