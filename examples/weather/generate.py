"""Synthetic hourly weather observations for the `weather` example (no real data is used).

The columns are the book's seven WeatherVariables features, with realistic ranges for a
temperate coastal station (think Port of Turku), plus the label `rain_next_hour`:

  temp_c                     air temperature, degC: seasonal + daily cycle + noise, about -25..33
  humidity                   relative humidity as a fraction 0..1 (2 decimals); higher when it rains
                             and when it is cold
  wind_speed_kmph            wind speed, km/h (gamma distributed, stronger under low pressure)
  wind_bearing_degree        wind direction in whole degrees 0..359, prevailing south-westerly
  visibility_km              km, capped at 16.1 like the book's data; lower in rain and high humidity
  pressure_millibars         sea-level pressure, hPa, around 1013
  current_weather_condition  1 if it is raining now, else 0 (likelier under low pressure)
  rain_next_hour             the label: 1 = it rains in the next hour, 0 = it does not

How the label is made: a logistic model of the features plus noise,
  logit = -1.6 + 2.4*raining_now + 6*(humidity-0.75) - 0.09*(pressure-1013)
          - 0.10*(visibility-10) + 0.025*(wind-10) + 0.5*[wind from SW..W] + N(0, 0.5)
and rain_next_hour ~ Bernoulli(sigmoid(logit)). So rain is more likely when it is already
raining, when humidity is high, pressure is low and visibility is poor; the noise term and the
Bernoulli draw keep the task realistically imperfect (about 85% accuracy is reachable).

Deterministic: the same `n` and `seed` give the same rows on any machine (numpy's PCG64).
Every value is rounded to a few decimals, so rows look like station reports and parse the same
in any language.
"""
import numpy as np

COLUMNS = [
    "temp_c",
    "humidity",
    "wind_speed_kmph",
    "wind_bearing_degree",
    "visibility_km",
    "pressure_millibars",
    "current_weather_condition",
]


def generate(n, seed):
    """Returns (X, y): X float64 [n, 7] in COLUMNS order, y int64 [n] (1 = rain next hour)."""
    rng = np.random.default_rng(seed)
    day = rng.uniform(0.0, 365.0, n)
    hour = rng.integers(0, 24, n)
    # Seasonal cycle peaking mid-July (day ~196), daily cycle peaking at 15:00.
    season = np.cos(2 * np.pi * (day - 196) / 365.0)
    daily = np.cos(2 * np.pi * (hour - 15) / 24.0)
    temp = 6.5 + 11.0 * season + 3.5 * daily + rng.normal(0.0, 3.5, n)
    temp = np.clip(temp, -25.0, 33.0)

    pressure = np.clip(rng.normal(1013.0, 10.5, n), 965.0, 1045.0)
    p_rain_now = 1.0 / (1.0 + np.exp(1.3 + 0.11 * (pressure - 1013.0)))
    raining = (rng.uniform(size=n) < p_rain_now).astype(np.float64)

    humidity = 0.72 + 0.14 * raining - 0.006 * (temp - 7.0) - 0.05 * daily + rng.normal(0.0, 0.09, n)
    humidity = np.clip(humidity, 0.15, 1.0)

    wind = rng.gamma(2.2, 4.8, n) + 0.25 * np.clip(1013.0 - pressure, 0.0, None)
    wind = np.clip(wind, 0.0, 90.0)
    # Prevailing south-westerly wind: a von Mises draw around 225 degrees mixed with uniform.
    bearing = np.where(
        rng.uniform(size=n) < 0.6,
        np.degrees(rng.vonmises(np.radians(225.0), 2.0, n)),
        rng.uniform(0.0, 360.0, n),
    ) % 360.0

    visibility = 16.1 - 7.5 * raining * rng.uniform(0.3, 1.0, n) - 14.0 * np.clip(humidity - 0.8, 0.0, None) \
        + rng.normal(0.0, 1.2, n)
    visibility = np.clip(visibility, 0.2, 16.1)

    sw = ((bearing >= 200.0) & (bearing <= 290.0)).astype(np.float64)
    logit = (-1.6 + 2.4 * raining + 6.0 * (humidity - 0.75) - 0.09 * (pressure - 1013.0)
             - 0.10 * (visibility - 10.0) + 0.025 * (wind - 10.0) + 0.5 * sw + rng.normal(0.0, 0.5, n))
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    X = np.column_stack([
        np.round(temp, 2),
        np.round(humidity, 2),
        np.round(wind, 1),
        np.floor(bearing) % 360.0,
        np.round(visibility, 2),
        np.round(pressure, 2),
        raining,
    ])
    return X, y


if __name__ == "__main__":
    X, y = generate(5000, 7)
    print("rows", len(y), "rain rate", y.mean().round(3))
    for i, c in enumerate(COLUMNS):
        print(f"{c:28s} min {X[:, i].min():8.2f}  mean {X[:, i].mean():8.2f}  max {X[:, i].max():8.2f}")
