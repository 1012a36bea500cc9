# R: a seeded random walk with a running mean; each step prints both.
set.seed(20261204)
pos <- 0
acc <- 0
for (s in 1:200) {
  steps <- sample(c(-1, 1), 1000, replace = TRUE)
  pos <- pos + sum(steps)
  acc <- acc + mean(rnorm(1000))
  cat(sprintf("step %d position %d mean %.12f\n", s, pos, acc / s))
  flush(stdout())
  Sys.sleep(0.05)
}
cat("done\n")
