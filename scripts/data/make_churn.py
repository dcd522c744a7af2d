"""Writes examples/data/churn.csv: made-up customers of a subscription
service and whether they left, for the bundled model example. Run from the
repository root: python3 scripts/data/make_churn.py"""
import csv
import math
import random

rng = random.Random(20261128)
rows = []
for i in range(1, 801):
    tenure = rng.randint(1, 72)
    monthly = round(rng.uniform(20, 120), 2)
    calls = min(int(rng.expovariate(0.6)), 12)
    month_to_month = rng.random() < 0.55
    score = -1.2 - 0.05 * tenure + 0.025 * monthly + 0.45 * calls + (1.1 if month_to_month else -0.6)
    p = 1 / (1 + math.exp(-score))
    churned = "yes" if rng.random() < p else "no"
    rows.append([i, tenure, monthly, calls, str(month_to_month).lower(), churned])

with open("examples/data/churn.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["customer_id", "tenure_months", "monthly_charges", "support_calls", "month_to_month", "churned"])
    w.writerows(rows)
