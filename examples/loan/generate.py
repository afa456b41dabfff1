"""Synthetic small-business loan applications for the `loan` example (no real loan data is used).

The columns are the article's 18 LoanApplication fields, modelled on the public SBA 7(a) loan
data's columns and ranges, plus the label `default` (1 = the loan was charged off):

  Term            int    loan term in months (12 .. 300; 84 and 120 most common, 240/300 real estate)
  NoEmp           int    employees of the business (0 .. ~1000, median ~5)
  CreateJob       int    jobs the loan is expected to create (mostly 0)
  RetainedJob     int    jobs it retains (<= NoEmp)
  longitude       float  of the business's city (+-0.15 deg jitter, 4 decimals)
  latitude        float
  GrAppv          float  gross amount approved by the bank, USD (5,000 .. 5,000,000, rounded to 100)
  SBA_Appv        float  the SBA-guaranteed part: 50 %, 75 % or 85 % of GrAppv
  is_new          str    "True" for a new business (< 2 years), else "False"
  FranchiseCode   str    "0" or "1" = not a franchise, else a 5-digit franchise code
  UrbanRural      int    1 urban, 2 rural, 0 undefined
  City            str    one of CITIES (upper case, as in SBA data)
  State           str    two-letter state of the business
  Bank            str    one of BANKS (a few dozen lender names)
  BankState       str    the lender's state
  RevLineCr       str    revolving line of credit: "Y", "N", "0" or "T"
  naics_first_two str    first two digits of the NAICS industry code ("44" retail, "72" food, ...)
  same_state      str    "True" when State == BankState, else "False"

How the label is made: a logistic model with effects of the size seen in SBA loan studies,
  logit = -2.0 + 1.9*[Term < 60] + 0.6*[60 <= Term < 84] - 1.5*[Term >= 240] + 0.35*[RevLineCr = Y]
          + 0.3*is_new + STATE_RISK[State] + NAICS_RISK[naics] + URBAN_RISK[UrbanRural]
          + BANK_RISK[Bank] (a fixed per-lender effect) + 0.3*[not same_state]
          - 0.22*log(1 + NoEmp) - 1.2*(SBA_Appv/GrAppv - 0.75) - 0.25*[franchise] + N(0, 0.4)
and default ~ Bernoulli(sigmoid(logit)): about 17 % of loans default, like the SBA data.

Deterministic: the same `n` and `seed` give the same rows on any machine (numpy's PCG64).
"""
import numpy as np

NUMERIC = ["Term", "NoEmp", "CreateJob", "RetainedJob", "longitude", "latitude", "GrAppv", "SBA_Appv", "UrbanRural"]
CATEGORICAL = ["is_new", "FranchiseCode", "City", "State", "Bank", "BankState", "RevLineCr", "naics_first_two", "same_state"]
# The article's field order.
FIELDS = ["Term", "NoEmp", "CreateJob", "RetainedJob", "longitude", "latitude", "GrAppv", "SBA_Appv", "is_new",
          "FranchiseCode", "UrbanRural", "City", "State", "Bank", "BankState", "RevLineCr", "naics_first_two",
          "same_state"]
INTEGER_FIELDS = {"Term", "NoEmp", "CreateJob", "RetainedJob", "UrbanRural"}

# (city, state, latitude, longitude, weight)
CITIES = [
    ("NEW YORK", "NY", 40.7128, -74.0060, 6), ("BROOKLYN", "NY", 40.6782, -73.9442, 3),
    ("BUFFALO", "NY", 42.8864, -78.8784, 1), ("LOS ANGELES", "CA", 34.0522, -118.2437, 6),
    ("SAN DIEGO", "CA", 32.7157, -117.1611, 3), ("SAN FRANCISCO", "CA", 37.7749, -122.4194, 3),
    ("SAN JOSE", "CA", 37.3382, -121.8863, 2), ("FRESNO", "CA", 36.7378, -119.7871, 1),
    ("SACRAMENTO", "CA", 38.5816, -121.4944, 2), ("HOUSTON", "TX", 29.7604, -95.3698, 5),
    ("DALLAS", "TX", 32.7767, -96.7970, 4), ("AUSTIN", "TX", 30.2672, -97.7431, 3),
    ("SAN ANTONIO", "TX", 29.4241, -98.4936, 2), ("CHICAGO", "IL", 41.8781, -87.6298, 5),
    ("SPRINGFIELD", "IL", 39.7817, -89.6501, 1), ("MIAMI", "FL", 25.7617, -80.1918, 4),
    ("ORLANDO", "FL", 28.5383, -81.3792, 3), ("TAMPA", "FL", 27.9506, -82.4572, 3),
    ("JACKSONVILLE", "FL", 30.3322, -81.6557, 2), ("ATLANTA", "GA", 33.7490, -84.3880, 4),
    ("SAVANNAH", "GA", 32.0809, -81.0912, 1), ("PHOENIX", "AZ", 33.4484, -112.0740, 3),
    ("TUCSON", "AZ", 32.2226, -110.9747, 1), ("LAS VEGAS", "NV", 36.1699, -115.1398, 3),
    ("DENVER", "CO", 39.7392, -104.9903, 3), ("BOULDER", "CO", 40.0150, -105.2705, 1),
    ("SEATTLE", "WA", 47.6062, -122.3321, 3), ("SPOKANE", "WA", 47.6588, -117.4260, 1),
    ("PORTLAND", "OR", 45.5152, -122.6784, 2), ("SALT LAKE CITY", "UT", 40.7608, -111.8910, 2),
    ("BOSTON", "MA", 42.3601, -71.0589, 3), ("WORCESTER", "MA", 42.2626, -71.8023, 1),
    ("PHILADELPHIA", "PA", 39.9526, -75.1652, 3), ("PITTSBURGH", "PA", 40.4406, -79.9959, 2),
    ("NEWARK", "NJ", 40.7357, -74.1724, 2), ("BALTIMORE", "MD", 39.2904, -76.6122, 2),
    ("RICHMOND", "VA", 37.5407, -77.4360, 2), ("CHARLOTTE", "NC", 35.2271, -80.8431, 2),
    ("RALEIGH", "NC", 35.7796, -78.6382, 2), ("COLUMBIA", "SC", 34.0007, -81.0348, 1),
    ("NASHVILLE", "TN", 36.1627, -86.7816, 2), ("MEMPHIS", "TN", 35.1495, -90.0490, 1),
    ("DETROIT", "MI", 42.3314, -83.0458, 2), ("GRAND RAPIDS", "MI", 42.9634, -85.6681, 1),
    ("COLUMBUS", "OH", 39.9612, -82.9988, 2), ("CLEVELAND", "OH", 41.4993, -81.6944, 2),
    ("INDIANAPOLIS", "IN", 39.7684, -86.1581, 2), ("MILWAUKEE", "WI", 43.0389, -87.9065, 2),
    ("MADISON", "WI", 43.0731, -89.4012, 1), ("MINNEAPOLIS", "MN", 44.9778, -93.2650, 2),
    ("SAINT PAUL", "MN", 44.9537, -93.0900, 1), ("DES MOINES", "IA", 41.5868, -93.6250, 1),
    ("KANSAS CITY", "MO", 39.0997, -94.5786, 2), ("SAINT LOUIS", "MO", 38.6270, -90.1994, 2),
    ("OMAHA", "NE", 41.2565, -95.9345, 1), ("OKLAHOMA CITY", "OK", 35.4676, -97.5164, 1),
    ("NEW ORLEANS", "LA", 29.9511, -90.0715, 1), ("LOUISVILLE", "KY", 38.2527, -85.7585, 1),
    ("BIRMINGHAM", "AL", 33.5186, -86.8104, 1), ("ALBUQUERQUE", "NM", 35.0844, -106.6504, 1),
    ("BOISE", "ID", 43.6150, -116.2023, 1), ("BILLINGS", "MT", 45.7833, -108.5007, 1),
    ("FARGO", "ND", 46.8772, -96.7898, 1), ("SIOUX FALLS", "SD", 43.5446, -96.7311, 1),
    ("BURLINGTON", "VT", 44.4759, -73.2121, 1), ("MANCHESTER", "NH", 42.9956, -71.4548, 1),
    ("PORTLAND", "ME", 43.6591, -70.2568, 1), ("HARTFORD", "CT", 41.7658, -72.6734, 1),
    ("PROVIDENCE", "RI", 41.8240, -71.4128, 1), ("ANCHORAGE", "AK", 61.2181, -149.9003, 1),
    ("HONOLULU", "HI", 21.3069, -157.8583, 1), ("CHEYENNE", "WY", 41.1400, -104.8202, 1),
]

# (bank, bank state, weight): national lenders appear everywhere, regional ones mostly at home.
BANKS = [
    ("BANK OF AMERICA NATL ASSOC", "NC", 10), ("WELLS FARGO BANK NATL ASSOC", "SD", 9),
    ("JPMORGAN CHASE BANK NATL ASSOC", "OH", 8), ("U.S. BANK NATIONAL ASSOCIATION", "OH", 6),
    ("CITIZENS BANK NATL ASSOC", "RI", 4), ("PNC BANK, NATIONAL ASSOCIATION", "DE", 4),
    ("CAPITAL ONE NATL ASSOC", "VA", 3), ("TD BANK, NATIONAL ASSOCIATION", "DE", 3),
    ("HUNTINGTON NATIONAL BANK", "OH", 3), ("KEYBANK NATIONAL ASSOCIATION", "OH", 3),
    ("BBCN BANK", "CA", 2), ("MANUFACTURERS & TRADERS TR CO", "NY", 2),
    ("FIFTH THIRD BANK", "OH", 2), ("REGIONS BANK", "AL", 2), ("BRANCH BANKING & TRUST CO", "NC", 2),
    ("SUNTRUST BANK", "GA", 2), ("ZIONS FIRST NATIONAL BANK", "UT", 2), ("COMPASS BANK", "AL", 2),
    ("CELTIC BANK CORPORATION", "UT", 2), ("LIVE OAK BANKING COMPANY", "NC", 2),
    ("CITIBANK N.A.", "SD", 2), ("READYCAP LENDING, LLC", "NJ", 1), ("NEWTEK SMALL BUS. FINANCE INC.", "NY", 1),
    ("BANCO POPULAR NORTH AMERICA", "NY", 1), ("FIRST HOME BANK", "FL", 1), ("SEACOAST COMMERCE BANK", "CA", 1),
    ("CADENCE BANK, N.A.", "MS", 1), ("UMPQUA BANK", "OR", 1), ("BANNER BANK", "WA", 1),
    ("BREMER BANK, NATIONAL ASSOCIATION", "MN", 1), ("ASSOCIATED BANK, NATIONAL ASSOCIATION", "WI", 1),
    ("FROST BANK", "TX", 1), ("FIRSTBANK PUERTO RICO", "PR", 1), ("EAST WEST BANK", "CA", 1),
    ("VALLEY NATIONAL BANK", "NJ", 1), ("BANK OF HAWAII", "HI", 1), ("FIRST INTERSTATE BANK", "MT", 1),
    ("BELL BANK", "ND", 1),
]

NAICS = [("44", 10), ("72", 9), ("81", 8), ("54", 8), ("23", 8), ("62", 6), ("42", 5), ("33", 4), ("45", 4),
         ("56", 4), ("48", 3), ("53", 3), ("71", 2), ("31", 2), ("11", 2), ("61", 2), ("32", 2), ("52", 1),
         ("51", 1), ("49", 1), ("21", 1), ("22", 1), ("92", 1), ("55", 1)]
NAICS_RISK = {"72": 0.4, "23": 0.3, "48": 0.35, "53": 0.25, "44": 0.15, "45": 0.2, "56": 0.15, "51": 0.2,
              "62": -0.55, "54": -0.1, "11": -0.7, "21": -0.4, "22": -0.5, "31": -0.2, "32": -0.2, "33": -0.25,
              "61": 0.05, "71": 0.1, "81": 0.0, "42": -0.05, "52": 0.1, "49": 0.2, "92": -0.3, "55": -0.2}
STATE_RISK = {"FL": 0.55, "GA": 0.5, "NV": 0.45, "MI": 0.35, "IL": 0.3, "TN": 0.25, "AZ": 0.25, "NY": 0.2,
              "CA": 0.1, "TX": 0.1, "NJ": 0.15, "OH": 0.1, "MT": -0.5, "ND": -0.55, "SD": -0.4, "VT": -0.45,
              "NH": -0.3, "WY": -0.35, "ME": -0.3, "MN": -0.2, "WI": -0.2, "IA": -0.25, "NE": -0.25,
              "AK": -0.3, "UT": -0.15, "WA": -0.1, "OR": -0.05}
URBAN_RISK = {0: -0.35, 1: 0.25, 2: -0.2}
TERMS = [(12, 4), (24, 3), (36, 6), (48, 3), (60, 14), (84, 30), (120, 20), (180, 4), (240, 10), (300, 6)]
REVLINE = [("N", 45), ("Y", 25), ("0", 27), ("T", 3)]
FRANCHISES = ["78760", "68020", "21780", "50564", "25650", "79140", "22470", "17998", "52000", "81630",
              "10725", "61000", "85000", "20900", "71000"]


def _choice(rng, items, n):
    w = np.array([x[-1] for x in items], dtype=np.float64)
    return rng.choice(len(items), size=n, p=w / w.sum())


def generate(n, seed):
    """Returns (rows, y): rows = list of dicts keyed by FIELDS (JSON-ready), y int64 [n] (1 = default)."""
    rng = np.random.default_rng(seed)
    bank_risk = np.random.default_rng(12345).normal(0.0, 0.4, len(BANKS))

    city = _choice(rng, CITIES, n)
    term = np.array([t for t, _ in TERMS])[_choice(rng, TERMS, n)]
    noemp = np.minimum(np.floor(rng.lognormal(1.6, 1.2, n)), 1000).astype(np.int64)
    create = np.where(rng.uniform(size=n) < 0.3, rng.poisson(1.0 + 0.3 * noemp ** 0.5), 0).astype(np.int64)
    retained = np.where(rng.uniform(size=n) < 0.55, np.floor(noemp * rng.uniform(0.3, 1.0, n)), 0).astype(np.int64)
    gr = np.clip(np.round(rng.lognormal(11.4 + 0.004 * term, 1.0, n), -2), 5000, 5000000)
    guarantee = np.where(gr <= 150000, 0.85, np.where(rng.uniform(size=n) < 0.8, 0.75, 0.5))
    sba = np.round(gr * guarantee, 2)
    is_new = rng.uniform(size=n) < 0.28
    franchise = rng.uniform(size=n) < 0.06
    fcode = np.where(franchise, np.array(FRANCHISES)[rng.integers(0, len(FRANCHISES), n)],
                     np.where(rng.uniform(size=n) < 0.7, "1", "0"))
    urban = rng.choice([0, 1, 2], size=n, p=[0.35, 0.5, 0.15])
    naics = np.array([c for c, _ in NAICS])[_choice(rng, NAICS, n)]
    revline = np.array([c for c, _ in REVLINE])[_choice(rng, REVLINE, n)]
    # Lenders: 60 % of loans from a bank based in the business's state when there is one.
    bank = _choice(rng, BANKS, n)
    by_state = {}
    for i, (_, st, _) in enumerate(BANKS):
        by_state.setdefault(st, []).append(i)
    local_pick = rng.uniform(size=n)
    local_idx = rng.integers(0, 1000, n)
    for i in range(n):
        home = by_state.get(CITIES[city[i]][1])
        if home and local_pick[i] < 0.6:
            bank[i] = home[local_idx[i] % len(home)]
    lat_j = rng.uniform(-0.15, 0.15, n)
    lon_j = rng.uniform(-0.15, 0.15, n)
    noise = rng.normal(0.0, 0.4, n)
    u = rng.uniform(size=n)

    rows, y = [], np.zeros(n, dtype=np.int64)
    for i in range(n):
        c_name, c_state, c_lat, c_lon, _ = CITIES[city[i]]
        b_name, b_state, _ = BANKS[bank[i]]
        same = c_state == b_state
        t = int(term[i])
        logit = (-2.0 + 1.9 * (t < 60) + 0.6 * (60 <= t < 84) - 1.5 * (t >= 240) + 0.35 * (revline[i] == "Y")
                 + 0.3 * is_new[i] + STATE_RISK.get(c_state, 0.0) + NAICS_RISK[naics[i]] + URBAN_RISK[int(urban[i])]
                 + bank_risk[bank[i]] + 0.3 * (not same) - 0.22 * np.log1p(noemp[i])
                 - 1.2 * (guarantee[i] - 0.75) - 0.25 * franchise[i] + noise[i])
        y[i] = int(u[i] < 1.0 / (1.0 + np.exp(-logit)))
        rows.append({
            "Term": t,
            "NoEmp": int(noemp[i]),
            "CreateJob": int(create[i]),
            "RetainedJob": int(retained[i]),
            "longitude": round(c_lon + lon_j[i], 4),
            "latitude": round(c_lat + lat_j[i], 4),
            "GrAppv": float(gr[i]),
            "SBA_Appv": float(sba[i]),
            "is_new": "True" if is_new[i] else "False",
            "FranchiseCode": str(fcode[i]),
            "UrbanRural": int(urban[i]),
            "City": c_name,
            "State": c_state,
            "Bank": b_name,
            "BankState": b_state,
            "RevLineCr": str(revline[i]),
            "naics_first_two": str(naics[i]),
            "same_state": "True" if same else "False",
        })
    return rows, y


if __name__ == "__main__":
    rows, y = generate(20000, 7)
    print("rows", len(rows), "default rate", round(float(y.mean()), 3))
    for f in FIELDS:
        vals = [r[f] for r in rows]
        if isinstance(vals[0], str):
            print(f"{f:16s} {len(set(vals)):4d} distinct, e.g. {sorted(set(vals))[:4]}")
        else:
            print(f"{f:16s} min {min(vals):12.4f} median {float(np.median(vals)):12.4f} max {max(vals):12.4f}")
