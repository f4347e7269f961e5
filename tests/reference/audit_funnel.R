# Reference values for tests/test_audit.py (funnel limits and Wilson interval).
#
# Exact binomial control limits for a proportion, Spiegelhalter 2005, Stat Med 24:1185,
# appendix A.1.1: r = qbinom(q, n, p) is the smallest count with P(R <= r) >= q; the limit
# is interpolated, alpha = (P(R <= r) - q) / (P(R <= r) - P(R <= r - 1)), limit = (r - alpha) / n,
# clipped to [0, 1]. q = (1 - level) / 2 for the lower limit, (1 + level) / 2 for the upper.
#
# Run: Rscript tests/reference/audit_funnel.R   (R 4.2.2; base R only)
limit <- function(p, n, q) {
  r <- qbinom(q, n, p)
  fr <- pbinom(r, n, p)
  fb <- pbinom(r - 1, n, p)
  alpha <- ifelse(fr - fb > 0, (fr - q) / (fr - fb), 0)
  pmin(pmax((r - alpha) / n, 0), 1)
}
cases <- expand.grid(n = c(5, 10, 20, 43, 100, 250, 1000), p = c(0.1, 0.5096774193548387, 0.75))
for (level in c(0.95, 0.998)) {
  cases[[sprintf("lower_%s", gsub("\\.", "_", format(level * 100)))]] <- limit(cases$p, cases$n, (1 - level) / 2)
  cases[[sprintf("upper_%s", gsub("\\.", "_", format(level * 100)))]] <- limit(cases$p, cases$n, (1 + level) / 2)
}
options(digits = 15)
print(cases[, c("p", "n", "lower_95", "upper_95", "lower_99_8", "upper_99_8")], row.names = FALSE)
# Wilson score interval, 33 of 50 (STACK.md: 0.5215 to 0.7756)
print(prop.test(33, 50, correct = FALSE)$conf.int)
