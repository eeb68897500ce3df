// x402scope test environment: pay for a URL with the reference x402 v2 client
// (@x402/fetch) and print one JSON line: {status, headers, body, paymentResponse}.
//   node pay.mjs URL PAYER_PRIVATE_KEY NETWORK
import { wrapFetchWithPaymentFromConfig, decodePaymentResponseHeader } from "@x402/fetch";
import { ExactEvmScheme } from "@x402/evm";
import { privateKeyToAccount } from "viem/accounts";

const [url, key, network] = process.argv.slice(2);
if (!url || !key || !network) { console.error("usage: node pay.mjs URL PAYER_PRIVATE_KEY NETWORK"); process.exit(2); }
const payFetch = wrapFetchWithPaymentFromConfig(fetch, {
  schemes: [{ network, client: new ExactEvmScheme(privateKeyToAccount(key)) }],
  spendControls: { allowedAssets: true },
});
const res = await payFetch(url, { method: "GET" });
const header = res.headers.get("payment-response");
console.log(JSON.stringify({
  status: res.status,
  headers: Object.fromEntries(res.headers),
  body: await res.text(),
  paymentResponse: header ? decodePaymentResponseHeader(header) : null,
}));
