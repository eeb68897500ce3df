// x402scope settlement webhooks for sellers who use @x402/express (or any
// x402ResourceServer from @x402/core): after each settlement, post a signed
// `x402.settlement.succeeded` / `x402.settlement.failed` event to x402scope.
//
//   import { x402scopeWebhook } from "./x402scope-webhook.mjs";
//   const hooks = x402scopeWebhook({
//     url: "https://x402scope.example/webhooks/my-shop",
//     secret: process.env.X402SCOPE_WEBHOOK_SECRET,   // whsec_…
//     facilitator: "https://x402.org/facilitator",
//   });
//   resourceServer.onAfterSettle(hooks.onAfterSettle).onSettleFailure(hooks.onSettleFailure);
//
// Events follow docs/schemas/settlement-event.schema.json and are signed with
// Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature; HMAC-SHA256
// over "id.timestamp.body" with the base64 key after "whsec_"). Delivery does not
// delay the buyer's response: it runs in the background and retries with the same
// webhook-id (x402scope stores each id once), with a backoff, on network errors
// and on 5xx/429 replies. It uses only Node's built-ins (node >= 18).
import { createHmac, randomUUID } from "node:crypto";

/** Standard Webhooks signature header value for one delivery. */
export function signDelivery(secret, id, timestamp, body) {
  if (typeof secret !== "string" || !secret.startsWith("whsec_")) {
    throw new Error("x402scope webhook secret must start with whsec_");
  }
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const mac = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
  return `v1,${mac}`;
}

function paymentIdentifier(payload) {
  const ext = payload?.extensions?.["payment-identifier"];
  const id = typeof ext === "string" ? ext : ext?.info?.id ?? ext?.id;
  return typeof id === "string" && id.length >= 16 && id.length <= 128 ? id : undefined;
}

function resourceOf(payload, fallback) {
  const r = payload?.resource;
  if (r && typeof r === "object" && typeof r.url === "string") return { url: r.url, description: r.description, mimeType: r.mimeType };
  if (typeof r === "string" && r) return r;
  return fallback;
}

/** The event body for a settlement context (SettleResultContext or SettleFailureContext). */
export function settlementEvent(ctx, { facilitator, resource } = {}) {
  const requirements = ctx.requirements ?? {};
  const settle = ctx.result
    ? { ...ctx.result }
    : { success: false, transaction: "", network: requirements.network, errorReason: "settle_error", errorMessage: String(ctx.error?.message ?? ctx.error ?? "settlement failed") };
  if (!settle.network) settle.network = requirements.network;
  const data = {
    x402Version: ctx.paymentPayload?.x402Version,
    resource: resourceOf(ctx.paymentPayload, resource ?? "unknown"),
    facilitator,
    accepted: { ...requirements },
    settleResponse: settle,
  };
  const pid = paymentIdentifier(ctx.paymentPayload);
  if (pid) data.paymentIdentifier = pid;
  // EVM exact: the authorization's nonce finds the settlement even without its hash.
  const nonce = ctx.paymentPayload?.payload?.authorization?.nonce;
  if (typeof nonce === "string" && /^0x[0-9a-fA-F]{64}$/.test(nonce)) data.authorization = { nonce };
  return {
    type: settle.success ? "x402.settlement.succeeded" : "x402.settlement.failed",
    timestamp: Math.floor(Date.now() / 1000),
    data,
  };
}

/**
 * Hooks for an x402ResourceServer. Options: url (x402scope's /webhooks/{source}),
 * secret (whsec_…), facilitator (its URL or id), retries (default 5),
 * timeoutMs (default 5000), onDelivered(event, status) and onError(err) callbacks.
 */
export function x402scopeWebhook({ url, secret, facilitator, retries = 5, timeoutMs = 5000, onDelivered, onError } = {}) {
  if (!url) throw new Error("x402scopeWebhook: url is required");
  if (!facilitator) throw new Error("x402scopeWebhook: facilitator is required");
  signDelivery(secret, "check", 0, ""); // fail fast on a bad secret

  async function deliver(event) {
    const id = `msg_${randomUUID()}`;
    const body = JSON.stringify(event);
    let lastError;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(30_000, 250 * 2 ** attempt)));
      const timestamp = Math.floor(Date.now() / 1000);
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "webhook-id": id,
            "webhook-timestamp": String(timestamp),
            "webhook-signature": signDelivery(secret, id, timestamp, body),
          },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (res.ok) { onDelivered?.(event, res.status); return; }
        lastError = new Error(`x402scope answered ${res.status}: ${await res.text()}`);
        // 4xx other than 429 will not get better by retrying.
        if (res.status < 500 && res.status !== 429) break;
      } catch (e) {
        lastError = e;
      }
    }
    (onError ?? ((e) => console.error("x402scope webhook:", e)))(lastError);
  }

  const send = (ctx) => { void deliver(settlementEvent(ctx, { facilitator })); };
  return {
    onAfterSettle: async (ctx) => send(ctx),
    onSettleFailure: async (ctx) => { send(ctx); },
  };
}
