# Monte Carlo estimate of pi in pure Python with a seeded generator: each step
# prints the running estimate. Usage: python3 montecarlo.py [STEPS]
import random, sys, time

rng = random.Random(20261204)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
inside = total = 0
for s in range(1, steps + 1):
    for _ in range(5000):
        x, y = rng.random(), rng.random()
        inside += x * x + y * y <= 1.0
    total += 5000
    print(f"step {s} pi {4 * inside / total:.12f} state {rng.getrandbits(32)}", flush=True)
    time.sleep(0.05)  # paces the job: a checkpoint lands midway on any machine
print("done", flush=True)
