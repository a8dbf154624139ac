// The official openai JS SDK against the gateway: one streamed chat completion and one streamed
// response. Reads GATEWAY_URL and GATEWAY_API_KEY; prints what it got as one JSON object.
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: `${process.env.GATEWAY_URL}/v1`,
  apiKey: process.env.GATEWAY_API_KEY,
  maxRetries: 0,
});

const chat = { content: "", finish: null, usage: null };
const chatStream = await client.chat.completions.create({
  model: "gpt-oss-20b",
  messages: [{ role: "user", content: "Say hello" }],
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of chatStream) {
  const choice = chunk.choices[0];
  if (choice?.delta?.content) chat.content += choice.delta.content;
  if (choice?.finish_reason) chat.finish = choice.finish_reason;
  if (chunk.usage) chat.usage = chunk.usage;
}

const responses = { text: "", events: [] };
const responseStream = await client.responses.create({
  model: "gpt-oss-20b",
  input: "Say hello",
  stream: true,
});
for await (const event of responseStream) {
  responses.events.push(event.type);
  if (event.type === "response.output_text.delta") responses.text += event.delta;
}

console.log(JSON.stringify({ chat, responses }));
