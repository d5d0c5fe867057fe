// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice Test-only: the smallest smart-contract account that signs by EIP-1271, as a Safe or another
///         contract wallet does. A signature is valid when its owner's key signed the hash. It has no
///         private key of its own, so only a verifier that asks the chain (isValidSignature) accepts it.
contract OwnedSmartAccount is IERC1271 {
    address public immutable OWNER;

    constructor(address owner_) {
        OWNER = owner_;
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError error, ) = ECDSA.tryRecover(hash, signature);
        return
            error == ECDSA.RecoverError.NoError && signer == OWNER
                ? IERC1271.isValidSignature.selector
                : bytes4(0xffffffff);
    }

    /// @notice Takes ETH like any wallet.
    receive() external payable {}
}
