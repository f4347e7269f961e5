# Times lme4::lmer on a trajectory analysis frame, for benchmarks/models.py.
#
#     Rscript benchmarks/lme4_timing.R FRAME.csv [slope|intercept]
#
# Fits y ~ week * schedule + adherence_between + adherence_within + level with
# (week | patient_id) or (1 | patient_id), REML, lme4's default control (what a user
# gets), and prints one JSON line: seconds (system.time around lmer, reading the CSV
# excluded), REML log-likelihood, lme4's convergence messages and the fixed effects
# named as patsy names them.

suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
random <- if (length(args) > 1) args[2] else "slope"
d <- read.csv(args[1], stringsAsFactors = FALSE)
d$schedule <- factor(d$schedule, levels = c("weekly", "guided"))
re <- if (random == "slope") "(week | patient_id)" else "(1 | patient_id)"
f <- as.formula(paste("y ~ week * schedule + adherence_between + adherence_within + level +", re))
t <- system.time(fit <- lmer(f, data = d, REML = TRUE))[["elapsed"]]
fe <- fixef(fit)
names(fe) <- sub("^\\(Intercept\\)$", "Intercept", names(fe))
names(fe) <- gsub("scheduleguided", "schedule[T.guided]", names(fe), fixed = TRUE)
msgs <- fit@optinfo$conv$lme4$messages
cat(sprintf('{"seconds": %.4f, "loglik": %.10f, "messages": %d, "fixed": {%s}}\n', t, as.numeric(logLik(fit)),
            length(msgs), paste(sprintf('"%s": %.12g', names(fe), fe), collapse = ", ")))
