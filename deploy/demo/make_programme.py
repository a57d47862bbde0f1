#!/usr/bin/env python3
"""Generates the demo programme: about 40 synthetic experiments of five work
methods in Brabant municipalities. The municipalities and their CBS codes are
real; every number (urbanity class, monitor score, outcomes) is synthetic.

The story built in: the neighbourhood coach (buurtcoach) lowers loneliness in
rural municipalities (true SMD 0.45) but not in urban ones (0.0); the other
methods work about equally everywhere. `leerlus what-works --by` and
`leerlus conditions` should find exactly that.

Deterministic: random.Random(2019). Run from this folder:
    python3 make_programme.py
writes areas.csv, experiments.csv and outcomes.csv.
"""
import math
import random

rng = random.Random(2019)

# (CBS code, name, urbanity class 1 = very urban ... 5 = rural)
MUNICIPALITIES = [
    ("GM0772", "Eindhoven", 1), ("GM0855", "Tilburg", 1), ("GM0758", "Breda", 2),
    ("GM0796", "'s-Hertogenbosch", 2), ("GM0794", "Helmond", 2), ("GM0861", "Veldhoven", 2),
    ("GM0828", "Oss", 3), ("GM1674", "Roosendaal", 3), ("GM0748", "Bergen op Zoom", 3),
    ("GM0867", "Waalwijk", 3), ("GM0757", "Boxtel", 4), ("GM0824", "Oisterwijk", 4),
    ("GM0762", "Deurne", 4), ("GM0845", "Sint-Michielsgestel", 4), ("GM1652", "Gemert-Bakel", 5),
    ("GM1706", "Cranendonck", 5), ("GM0744", "Baarle-Nassau", 5), ("GM1721", "Bernheze", 5),
    ("GM1658", "Heeze-Leende", 5), ("GM1659", "Laarbeek", 5), ("GM1667", "Reusel-De Mierden", 5),
    ("GM1728", "Bladel", 5), ("GM0823", "Oirschot", 5),
]
URBAN = [m for m in MUNICIPALITIES if m[2] <= 3]
RURAL = [m for m in MUNICIPALITIES if m[2] >= 4]

def area_label(urbanity):
    return "landelijk" if urbanity >= 4 else "stedelijk"

def decimal_comma(x):
    return f"{x:.1f}".replace(".", ",")

# Areas: a synthetic monitor score (lower in the cities here).
with open("areas.csv", "w") as f:
    f.write("code;name;stedelijkheid;veerkracht_score;gebied\n")
    scores = {}
    for code, name, urbanity in MUNICIPALITIES:
        scores[code] = round(5.0 + 0.2 * urbanity + rng.gauss(0, 0.15), 1)
        f.write(f"{code};{name};{urbanity};{decimal_comma(scores[code])};{area_label(urbanity)}\n")

# method id -> (number of experiments, true SMD in rural, true SMD in urban, indicator)
METHODS = {
    "buurtcoach": (12, 0.45, 0.0, "eenzaamheid"),
    "wijkteam": (8, 0.20, 0.20, "eenzaamheid"),
    "taalcafe": (6, 0.10, 0.10, "eenzaamheid"),
    "mantelzorgsteun": (7, 0.25, 0.25, "eenzaamheid"),
    "energiecoach": (7, 0.35, 0.35, "energiearmoede"),
}
TEAMS = {"buurtcoach": "team-welzijn", "wijkteam": "team-zorg", "taalcafe": "team-taal",
         "mantelzorgsteun": "team-zorg", "energiecoach": "team-energie"}
TAU = 0.05  # Between-experiment spread of true effects.

def follow_up_months(start_year, measured):
    """Whole months from the start (15 January) to the measurement."""
    year, month, day = (int(part) for part in measured.split("-"))
    return (year - start_year) * 12 + (month - 1) - (1 if day < 15 else 0)


experiments = []
outcomes = []
for method, (count, rural_effect, urban_effect, indicator) in METHODS.items():
    for i in range(count):
        pool = RURAL if i % 2 == 0 else URBAN
        code, name, urbanity = pool[rng.randrange(len(pool))]
        rural = urbanity >= 4
        true_smd = (rural_effect if rural else urban_effect) + rng.gauss(0, TAU)
        experiment_id = f"{method}-{code.lower()}-{i + 1}"
        year = 2018 + i % 2
        line = "CROSSOVER" if method == "energiecoach" else "AREA_BASED"
        task = "energietransitie" if method == "energiecoach" else ""
        budget = rng.randrange(40, 250) * 100000  # euro cents
        experiments.append((experiment_id, method, line, task, code, TEAMS[method],
                            f"{method.capitalize()} {name}", budget, f"{year}-01-15",
                            f"{year + 1}-03-31", indicator))
        design = "RCT" if rng.random() < 0.4 else "QUASI_EXPERIMENTAL"
        # The evaluator's risk-of-bias judgement (RoB 2 / ROBINS-I overall):
        # the trials sound, the comparisons without randomisation with some
        # concerns. Follow-up: months from the start to the measurement.
        risk_of_bias = "LOW" if design == "RCT" else "SOME_CONCERNS"
        n1, n2 = rng.randrange(50, 160), rng.randrange(50, 160)
        measured = f"{year + 1}-0{rng.randrange(1, 4)}-{rng.randrange(10, 28)}"
        if indicator == "eenzaamheid":
            # Loneliness score 0-11, SD about 2.2; lower is better, so the
            # treatment mean sits true_smd SDs below the control mean.
            sd = 2.2
            control_mean = 5.0 + rng.gauss(0, 0.3)
            m1 = control_mean - true_smd * sd + rng.gauss(0, sd / math.sqrt(n1))
            m2 = control_mean + rng.gauss(0, sd / math.sqrt(n2))
            s1 = sd * (1 + rng.gauss(0, 0.05))
            s2 = sd * (1 + rng.gauss(0, 0.05))
            outcomes.append(f"{experiment_id},o1,{indicator},{measured},{design},"
                            f"{m1:.3f},{s1:.3f},{n1},{m2:.3f},{s2:.3f},{n2},,,,,"
                            f"{risk_of_bias},{follow_up_months(year, measured)}")
        else:
            # Households in energy poverty: a lower share is better.
            p2 = 0.30
            log_or = -true_smd * math.pi / math.sqrt(3)
            odds = p2 / (1 - p2) * math.exp(log_or)
            p1 = odds / (1 + odds)
            e1 = sum(rng.random() < p1 for _ in range(n1))
            e2 = sum(rng.random() < p2 for _ in range(n2))
            outcomes.append(f"{experiment_id},o1,{indicator},{measured},{design},"
                            f",,,,,,{e1},{n1},{e2},{n2},"
                            f"{risk_of_bias},{follow_up_months(year, measured)}")

with open("experiments.csv", "w") as f:
    f.write("id,method,line,societal_task,area,team,title,budget_cents,start,end,indicator\n")
    for row in experiments:
        f.write(",".join(str(x) for x in row) + "\n")

with open("outcomes.csv", "w") as f:
    f.write("experiment_id,outcome_id,indicator_id,measured_on,design,treatment_mean,treatment_sd,"
            "treatment_n,control_mean,control_sd,control_n,treatment_events,treatment_total,"
            "control_events,control_total,risk_of_bias,follow_up_months\n")
    for row in outcomes:
        f.write(row + "\n")
print(f"{len(experiments)} experiments, {len(outcomes)} outcomes")
