#!/usr/bin/env node
// A weather station: replays readings from a CSV (a header row naming the model's fields; other
// columns such as `time` are left out) to MQTT, one JSON reading per message at QoS 1, as a station
// would report them.
//   node examples/weather-station/publisher.mjs --url mqtt://127.0.0.1:1883 [--csv readings.csv]
//        [--rate 20] [--count N] [--station station-1] [--topic modelserve/weather/predict]
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';

const FIELDS = ['temp_c', 'humidity', 'wind_speed_kmph', 'wind_bearing_degree', 'visibility_km', 'pressure_millibars', 'current_weather_condition'];
const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
    csv: { type: 'string', default: join(dirname(fileURLToPath(import.meta.url)), 'readings.csv') },
    rate: { type: 'string', default: '20' },
    count: { type: 'string' },
    station: { type: 'string', default: 'station-1' },
    topic: { type: 'string', default: 'modelserve/weather/predict' },
  },
});

const lines = readFileSync(values.csv, 'utf8').trim().split(/\r?\n/);
const header = lines[0].split(',').map((h) => h.trim());
const missing = FIELDS.filter((f) => !header.includes(f));
if (missing.length > 0) {
  console.error(`publisher: ${values.csv}: the header lacks ${missing.join(', ')} (expected columns ${FIELDS.join(', ')})`);
  process.exit(2);
}
// An empty cell (a sensor gap) is left out of the reading, as a station reports no value: sent as 0
// it would be a made-up reading the model answers. A cell that is not a number is sent as written,
// for the server to say what is wrong with it (422 on the errors topic).
const cellValue = (cell) => (cell !== '' && Number.isFinite(Number(cell)) ? Number(cell) : cell);
const readings = lines.slice(1).map((line) => {
  const cells = line.split(',').map((c) => c.trim());
  return Object.fromEntries(FIELDS.map((f) => [f, cells[header.indexOf(f)] ?? '']).filter(([, cell]) => cell !== '').map(([f, cell]) => [f, cellValue(cell)]));
});
const rate = Number(values.rate);
const count = values.count === undefined ? Infinity : Number(values.count);
// (setInterval takes an infinite or NaN period as 1 ms: --rate 0 would publish 1,000 readings a second.)
if (!(rate > 0 && rate <= 1000)) { console.error(`publisher: --rate ${values.rate}: give readings per second, more than 0 and at most 1000`); process.exit(2); }
if (!(Number.isInteger(count) && count >= 0) && count !== Infinity) { console.error(`publisher: --count ${values.count}: give a whole number of readings`); process.exit(2); }

const client = await mqtt.connectAsync(values.url, { protocolVersion: 5, clientId: `${values.station}-${process.pid}` }).catch((err) => {
  console.error(`publisher: cannot connect to ${values.url}: ${err.message}`);
  process.exit(1);
});
let sent = 0;
const timer = setInterval(() => {
  if (sent >= count) {
    clearInterval(timer);
    void client.endAsync().then(() => console.error(`publisher: ${sent} readings sent`));
    return;
  }
  const reading = readings[sent % readings.length];
  client.publish(values.topic, JSON.stringify(reading), { qos: 1, properties: { userProperties: { request_id: `${values.station}-${sent}`, station: values.station } } });
  sent++;
}, 1000 / rate);
const stop = () => { clearInterval(timer); void client.endAsync().then(() => { console.error(`publisher: ${sent} readings sent`); process.exit(0); }); };
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
