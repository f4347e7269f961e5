# Reference values for outcomes.models.multiplicity (tests/test_multiplicity.py).
#
# Run from the repository root:
#     Rscript tests/reference/multiplicity.R
# It writes tests/reference/multiplicity_values.json: for each input vector of p-values
# (with ties, missing values, 0 and 1, a single value, an empty vector) the output of
# stats::p.adjust with methods "holm", "bonferroni" and "none". NA is written as null.
#
# Last run with R 4.2.2 (Debian), jsonlite (version also in the JSON).

suppressPackageStartupMessages(library(jsonlite))
set.seed(11)
cases <- list(
  increasing = c(0.01, 0.02, 0.03, 0.04, 0.05),
  ties = c(0.02, 0.01, 0.02, 0.04, 0.02, 0.5),
  missing = c(0.03, NA, 0.001, 0.2, NA, 0.03),
  bounds = c(0, 1, 0.5, 0.25),
  single = c(0.04),
  empty = numeric(0),
  all_missing = c(NA_real_, NA_real_),
  random = round(runif(20)^3, 6)
)
out <- lapply(cases, function(p) list(
  p = p,
  holm = p.adjust(p, "holm"),
  bonferroni = p.adjust(p, "bonferroni"),
  none = p.adjust(p, "none")
))
out$versions <- list(R = R.version.string, jsonlite = as.character(packageVersion("jsonlite")))
writeLines(toJSON(out, digits = NA, auto_unbox = FALSE, pretty = TRUE, na = "null"),
           "tests/reference/multiplicity_values.json")
