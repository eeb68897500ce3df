// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// x402scope test contract: lets one facilitator transaction settle several
/// EIP-3009 authorizations, as batching facilitators do. Each entry of `calls` is
/// full calldata for the token (e.g. transferWithAuthorization(...)).
contract SettlementBatcher {
    function run(address token, bytes[] calldata calls) external {
        for (uint256 i = 0; i < calls.length; i++) {
            (bool ok, bytes memory ret) = token.call(calls[i]);
            if (!ok) {
                assembly { revert(add(ret, 32), mload(ret)) }
            }
        }
    }
}
