// Drives the official npm `replicate` client against a modelyard server and prints one JSON
// line of results for tests/integration/test_js_client.py to check.
import http from "node:http";
import Replicate, { validateWebhook } from "replicate";

const [baseUrl, auth] = process.argv.slice(2);
const replicate = new Replicate({ auth, baseUrl: `${baseUrl}/v1` });
const results = {};

// run(): string output.
results.run = await replicate.run("admin/echo", { input: { text: "from node" } });

// stream(): tokens as they arrive, without a `stream` flag.
const chunks = [];
for await (const event of replicate.stream("admin/tokens", { input: { prefix: "js", pause: 0.5 } })) {
  if (event.event === "output") chunks.push(String(event));
}
results.stream = chunks;

// A file input: a Blob uploaded through /v1/files by the client.
const bytes = new TextEncoder().encode("node bytes");
results.file = await replicate.run("admin/filesize", {
  input: { file: new Blob([bytes], { type: "application/octet-stream" }) },
});

// validateWebhook() accepts a real delivery.
const { key } = await replicate.webhooks.default.secret.get();
const delivery = await new Promise((resolve, reject) => {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      res.end("ok");
      server.close();
      resolve({ headers: req.headers, body });
    });
  });
  server.listen(0, "127.0.0.1", async () => {
    const url = `http://127.0.0.1:${server.address().port}/hook`;
    try {
      await replicate.predictions.create({
        model: "admin/echo",
        input: { text: "hook" },
        webhook: url,
        webhook_events_filter: ["completed"],
      });
    } catch (error) {
      reject(error);
    }
  });
  setTimeout(() => reject(new Error("no webhook arrived")), 60000).unref();
});
results.webhookValid = await validateWebhook(
  { id: delivery.headers["webhook-id"], timestamp: delivery.headers["webhook-timestamp"],
    signature: delivery.headers["webhook-signature"], body: delivery.body, secret: key },
);
results.webhookTampered = await validateWebhook(
  { id: delivery.headers["webhook-id"], timestamp: delivery.headers["webhook-timestamp"],
    signature: delivery.headers["webhook-signature"], body: delivery.body + " ", secret: key },
);
console.log(JSON.stringify(results));
