# NumPy: power iteration on a seeded random matrix, with its state (the
# vector, the generator) in memory across a checkpoint. Each step prints the
# eigenvalue estimate and a hash of the vector's bytes.
import hashlib, sys, time
import numpy as np

rng = np.random.default_rng(20261204)
a = rng.random((300, 300))
a = a + a.T
x = np.ones(300)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
for s in range(1, steps + 1):
    y = a @ x
    lam = float(x @ y / (x @ x))
    x = y / np.linalg.norm(y) + 1e-3 * rng.standard_normal(300)
    print(f"step {s} lambda {lam:.12e} x {hashlib.sha256(x.tobytes()).hexdigest()[:16]}", flush=True)
    time.sleep(0.05)
print("done", flush=True)
