// Trains admin/trainable with the official npm `replicate` client (1.4.0) and prints one JSON
// line of results for tests/integration/test_trainings.py to check.
import Replicate from "replicate";

const [baseUrl, auth, trainable, destination] = process.argv.slice(2);
const replicate = new Replicate({ auth, baseUrl: `${baseUrl}/v1` });
const [ownerName, version] = trainable.split(":");
const [owner, name] = ownerName.split("/");
const lines = "data:text/plain;base64," + Buffer.from("from node\n").toString("base64");
const results = {};

let training = await replicate.trainings.create(owner, name, version, {
  destination,
  input: { lines },
});
results.created = training.status;
while (!["succeeded", "failed", "canceled"].includes(training.status)) {
  await new Promise((resolve) => setTimeout(resolve, 200));
  training = await replicate.trainings.get(training.id);
}
results.done = training.status;
results.version = training.output?.version ?? null;
results.run = await replicate.run(results.version, { input: { prompt: "n" } });

const slow = await replicate.trainings.create(owner, name, version, {
  destination,
  input: { lines, pause: 60 },
});
// Canceled while it runs (a cancel racing the start is the scheduler's, not this test's).
let running = slow;
while (running.status === "starting") {
  await new Promise((resolve) => setTimeout(resolve, 200));
  running = await replicate.trainings.get(slow.id);
}
results.canceled = (await replicate.trainings.cancel(slow.id)).status;
const page = await replicate.trainings.list();
results.listed = page.results.some((t) => t.id === training.id);
console.log(JSON.stringify(results));
