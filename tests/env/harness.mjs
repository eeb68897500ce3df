// x402scope test environment: the reference x402 v2 stack on a local anvil chain.
//
//   node harness.mjs --rpc http://127.0.0.1:PORT [--chain-only]
//
// Expects anvil already running at --rpc (x402scope's testkit starts it, so that
// the Rust side owns every process's lifetime). Installs the EIP-3009 test token at
// the Base Sepolia USDC address and a Multicall3 subset, funds the payer, starts a
// reference facilitator (@x402/core + @x402/evm) and an @x402/express resource
// server with one paid route, then prints ONE JSON line of endpoints and keys.
// With --chain-only it stops after the chain setup (no facilitator, no server).
// Exits when stdin closes or on SIGTERM/SIGINT.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import express from "express";
import solc from "solc";
import { createTestClient, createWalletClient, http, publicActions, parseAbi } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { baseSepolia } from "viem/chains";
import { x402Facilitator } from "@x402/core/facilitator";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { registerExactEvmScheme } from "@x402/evm/exact/facilitator";
import { ExactEvmScheme as ExactEvmServerScheme } from "@x402/evm/exact/server";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";

const started = Date.now();
const here = new URL(".", import.meta.url).pathname;
const arg = (name) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const RPC = arg("--rpc");
if (!RPC) { console.error("usage: node harness.mjs --rpc http://127.0.0.1:PORT"); process.exit(2); }

// anvil's well-known development keys (mnemonic "test test ... junk"), accounts #0..#3.
const KEYS = {
  deployer: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  payer: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  facilitator: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  payee: "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
};
const CHAIN_ID = 84532;
const NETWORK = `eip155:${CHAIN_ID}`;
const USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"; // the address the SDK expects on this chain id
const MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11";
// Our batching contract, for transactions that settle several authorizations.
const BATCHER = "0x0000000000000000000000000000000000B47C40";
const PRICE = "$0.001";

const stop = () => process.exit(0);
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();

function runtimeBytecode(file, contract) {
  const input = {
    language: "Solidity",
    sources: { [file]: { content: readFileSync(here + "contracts/" + file, "utf8") } },
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun",
      outputSelection: { "*": { "*": ["evm.deployedBytecode.object"] } } },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors || []).filter((e) => e.severity === "error");
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  return "0x" + out.contracts[file][contract].evm.deployedBytecode.object;
}

const chain = { ...baseSepolia, rpcUrls: { default: { http: [RPC] } } };
const testClient = createTestClient({ mode: "anvil", chain, transport: http(RPC) }).extend(publicActions);
for (let i = 0; ; i++) {
  try { await testClient.getBlockNumber(); break; } catch (e) { if (i > 400) throw e; await new Promise((r) => setTimeout(r, 25)); }
}

await testClient.setCode({ address: USDC, bytecode: runtimeBytecode("TestUSDC.sol", "TestUSDC") });
await testClient.setCode({ address: MULTICALL3, bytecode: runtimeBytecode("Multicall3Lite.sol", "Multicall3Lite") });
await testClient.setCode({ address: BATCHER, bytecode: runtimeBytecode("SettlementBatcher.sol", "SettlementBatcher") });
const accounts = Object.fromEntries(Object.entries(KEYS).map(([k, v]) => [k, privateKeyToAccount(v)]));
const deployer = createWalletClient({ account: accounts.deployer, chain, transport: http(RPC) });
const mintTx = await deployer.writeContract({ address: USDC, abi: parseAbi(["function mint(address,uint256)"]),
  functionName: "mint", args: [accounts.payer.address, 1_000_000_000n] });
await testClient.waitForTransactionReceipt({ hash: mintTx });
const keysOut = Object.fromEntries(Object.entries(accounts).map(([k, a]) => [k, { address: a.address, key: KEYS[k] }]));
if (process.argv.includes("--chain-only")) {
  console.log(JSON.stringify({ ready: true, startup_ms: Date.now() - started, rpc: RPC, chain_id: CHAIN_ID, network: NETWORK,
    token: USDC, multicall3: MULTICALL3, batcher: BATCHER, facilitator: null, server: null, paid_url: null, price_atomic: null, accounts: keysOut }));
} else {

// The reference facilitator, settling on anvil.
const facWallet = createWalletClient({ account: accounts.facilitator, chain, transport: http(RPC) }).extend(publicActions);
const signer = toFacilitatorEvmSigner({
  address: accounts.facilitator.address,
  getCode: (a) => facWallet.getCode(a),
  readContract: (a) => facWallet.readContract({ ...a, args: a.args || [] }),
  verifyTypedData: (a) => facWallet.verifyTypedData(a),
  writeContract: (a) => facWallet.writeContract({ ...a, args: a.args || [] }),
  sendTransaction: (a) => facWallet.sendTransaction(a),
  waitForTransactionReceipt: (a) => facWallet.waitForTransactionReceipt(a),
}, { confirmationTimeoutMs: 20_000 });
const facilitator = new x402Facilitator();
registerExactEvmScheme(facilitator, { signer, networks: NETWORK });
const facApp = express();
facApp.use(express.json());
facApp.get("/supported", (_req, res) => res.json(facilitator.getSupported()));
for (const op of ["verify", "settle"]) {
  facApp.post("/" + op, async (req, res) => {
    try { res.json(await facilitator[op](req.body.paymentPayload, req.body.paymentRequirements)); }
    catch (e) { res.status(500).json({ error: String(e) }); }
  });
}
const listen = (app) => new Promise((resolve, reject) => {
  const server = app.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${server.address().port}`));
  server.on("error", reject);
});
const facilitatorUrl = await listen(facApp);

// The reference resource server: GET /weather costs $0.001 in test USDC.
const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: facilitatorUrl }))
  .register(NETWORK, new ExactEvmServerScheme());
// Opt-in: --webhook-url URL --webhook-secret whsec_… posts signed settlement
// events to x402scope with the seller snippet.
if (arg("--webhook-url")) {
  const { x402scopeWebhook } = await import("../../snippets/x402scope-webhook.mjs");
  const hooks = x402scopeWebhook({ url: arg("--webhook-url"), secret: arg("--webhook-secret"), facilitator: facilitatorUrl });
  resourceServer.onAfterSettle(hooks.onAfterSettle).onSettleFailure(hooks.onSettleFailure);
}
const app = express();
app.use(paymentMiddleware({
  "GET /weather": { accepts: { scheme: "exact", price: PRICE, network: NETWORK, payTo: accounts.payee.address },
    description: "Weather data", mimeType: "application/json" },
}, resourceServer));
app.get("/weather", (_req, res) => res.json({ report: { weather: "sunny", temperature: 70 } }));
app.get("/free", (_req, res) => res.json({ ok: true }));
const serverUrl = await listen(app);

console.log(JSON.stringify({
  ready: true, startup_ms: Date.now() - started, rpc: RPC, chain_id: CHAIN_ID, network: NETWORK, token: USDC,
  multicall3: MULTICALL3, batcher: BATCHER, facilitator: facilitatorUrl, server: serverUrl, paid_url: `${serverUrl}/weather`,
  price_atomic: "1000", accounts: keysOut,
}));
}
