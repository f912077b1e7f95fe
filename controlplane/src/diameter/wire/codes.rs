//! Numbers of the base protocol (RFC 6733) and of the Mobile IPv4 application (RFC 4004):
//! application ids, command codes, AVP codes, Result-Code values and the enumerated values
//! the engines use.

/// Application ids (RFC 6733 §2.4, RFC 4004 §1).
pub mod app {
    /// Diameter common messages (base protocol: CER/CEA, DWR/DWA, DPR/DPA).
    pub const COMMON: u32 = 0;
    /// Diameter Mobile IPv4 application (RFC 4004).
    pub const MOBILE_IPV4: u32 = 2;
    /// Diameter base accounting.
    pub const BASE_ACCOUNTING: u32 = 3;
    /// Relay (RFC 6733 §2.4), advertised by relays and proxies.
    pub const RELAY: u32 = 0xffff_ffff;
}

/// Command codes (RFC 6733 §3.1, RFC 4004 §5). Request and answer share the code; the R bit
/// tells them apart.
pub mod cmd {
    /// Capabilities-Exchange-Request/Answer (CER/CEA).
    pub const CAPABILITIES_EXCHANGE: u32 = 257;
    /// Re-Auth-Request/Answer (RAR/RAA).
    pub const RE_AUTH: u32 = 258;
    /// AA-Mobile-Node-Request/Answer (AMR/AMA, RFC 4004 §5.1).
    pub const AA_MOBILE_NODE: u32 = 260;
    /// Home-Agent-MIP-Request/Answer (HAR/HAA, RFC 4004 §5.3).
    pub const HOME_AGENT_MIP: u32 = 262;
    /// Accounting-Request/Answer (ACR/ACA).
    pub const ACCOUNTING: u32 = 271;
    /// Abort-Session-Request/Answer (ASR/ASA).
    pub const ABORT_SESSION: u32 = 274;
    /// Session-Termination-Request/Answer (STR/STA).
    pub const SESSION_TERMINATION: u32 = 275;
    /// Device-Watchdog-Request/Answer (DWR/DWA).
    pub const DEVICE_WATCHDOG: u32 = 280;
    /// Disconnect-Peer-Request/Answer (DPR/DPA).
    pub const DISCONNECT_PEER: u32 = 282;
}

/// AVP codes of the base protocol (RFC 6733 §4.5, §8, §9) and of RFC 4004 §7, all with
/// Vendor-Id 0 (no V bit).
pub mod code {
    pub const USER_NAME: u32 = 1;
    pub const CLASS: u32 = 25;
    pub const SESSION_TIMEOUT: u32 = 27;
    pub const PROXY_STATE: u32 = 33;
    pub const ACCT_SESSION_ID: u32 = 44;
    pub const ACCT_MULTI_SESSION_ID: u32 = 50;
    pub const EVENT_TIMESTAMP: u32 = 55;
    pub const ACCT_INTERIM_INTERVAL: u32 = 85;
    pub const HOST_IP_ADDRESS: u32 = 257;
    pub const AUTH_APPLICATION_ID: u32 = 258;
    pub const ACCT_APPLICATION_ID: u32 = 259;
    pub const VENDOR_SPECIFIC_APPLICATION_ID: u32 = 260;
    pub const REDIRECT_HOST_USAGE: u32 = 261;
    pub const REDIRECT_MAX_CACHE_TIME: u32 = 262;
    pub const SESSION_ID: u32 = 263;
    pub const ORIGIN_HOST: u32 = 264;
    pub const SUPPORTED_VENDOR_ID: u32 = 265;
    pub const VENDOR_ID: u32 = 266;
    pub const FIRMWARE_REVISION: u32 = 267;
    pub const RESULT_CODE: u32 = 268;
    pub const PRODUCT_NAME: u32 = 269;
    pub const SESSION_BINDING: u32 = 270;
    pub const SESSION_SERVER_FAILOVER: u32 = 271;
    pub const MULTI_ROUND_TIME_OUT: u32 = 272;
    pub const DISCONNECT_CAUSE: u32 = 273;
    pub const AUTH_REQUEST_TYPE: u32 = 274;
    pub const AUTH_GRACE_PERIOD: u32 = 276;
    pub const AUTH_SESSION_STATE: u32 = 277;
    pub const ORIGIN_STATE_ID: u32 = 278;
    pub const FAILED_AVP: u32 = 279;
    pub const PROXY_HOST: u32 = 280;
    pub const ERROR_MESSAGE: u32 = 281;
    pub const ROUTE_RECORD: u32 = 282;
    pub const DESTINATION_REALM: u32 = 283;
    pub const PROXY_INFO: u32 = 284;
    pub const RE_AUTH_REQUEST_TYPE: u32 = 285;
    pub const ACCOUNTING_SUB_SESSION_ID: u32 = 287;
    pub const AUTHORIZATION_LIFETIME: u32 = 291;
    pub const REDIRECT_HOST: u32 = 292;
    pub const DESTINATION_HOST: u32 = 293;
    pub const ERROR_REPORTING_HOST: u32 = 294;
    pub const TERMINATION_CAUSE: u32 = 295;
    pub const ORIGIN_REALM: u32 = 296;
    pub const EXPERIMENTAL_RESULT: u32 = 297;
    pub const EXPERIMENTAL_RESULT_CODE: u32 = 298;
    pub const INBAND_SECURITY_ID: u32 = 299;
    pub const ACCOUNTING_RECORD_TYPE: u32 = 480;
    pub const ACCOUNTING_REALTIME_REQUIRED: u32 = 483;
    pub const ACCOUNTING_RECORD_NUMBER: u32 = 485;

    // RFC 4004 §7 (Mobile IPv4 application).
    pub const MIP_FA_TO_HA_SPI: u32 = 318;
    pub const MIP_FA_TO_MN_SPI: u32 = 319;
    pub const MIP_REG_REQUEST: u32 = 320;
    pub const MIP_REG_REPLY: u32 = 321;
    pub const MIP_MN_AAA_AUTH: u32 = 322;
    pub const MIP_HA_TO_FA_SPI: u32 = 323;
    pub const MIP_MN_TO_FA_MSA: u32 = 325;
    pub const MIP_FA_TO_MN_MSA: u32 = 326;
    pub const MIP_FA_TO_HA_MSA: u32 = 328;
    pub const MIP_HA_TO_FA_MSA: u32 = 329;
    pub const MIP_MN_TO_HA_MSA: u32 = 331;
    pub const MIP_HA_TO_MN_MSA: u32 = 332;
    pub const MIP_MOBILE_NODE_ADDRESS: u32 = 333;
    pub const MIP_HOME_AGENT_ADDRESS: u32 = 334;
    pub const MIP_NONCE: u32 = 335;
    pub const MIP_CANDIDATE_HOME_AGENT_HOST: u32 = 336;
    pub const MIP_FEATURE_VECTOR: u32 = 337;
    pub const MIP_AUTH_INPUT_DATA_LENGTH: u32 = 338;
    pub const MIP_AUTHENTICATOR_LENGTH: u32 = 339;
    pub const MIP_AUTHENTICATOR_OFFSET: u32 = 340;
    pub const MIP_MN_AAA_SPI: u32 = 341;
    pub const MIP_FILTER_RULE: u32 = 342;
    pub const MIP_SESSION_KEY: u32 = 343;
    pub const MIP_FA_CHALLENGE: u32 = 344;
    pub const MIP_ALGORITHM_TYPE: u32 = 345;
    pub const MIP_REPLAY_MODE: u32 = 346;
    pub const MIP_ORIGINATING_FOREIGN_AAA: u32 = 347;
    pub const MIP_HOME_AGENT_HOST: u32 = 348;
    pub const MIP_MSA_LIFETIME: u32 = 367;
}

/// Result-Code values (RFC 6733 §7.1, RFC 4004 §6).
pub mod result {
    pub const MULTI_ROUND_AUTH: u32 = 1001;
    pub const SUCCESS: u32 = 2001;
    pub const LIMITED_SUCCESS: u32 = 2002;
    pub const COMMAND_UNSUPPORTED: u32 = 3001;
    pub const UNABLE_TO_DELIVER: u32 = 3002;
    pub const REALM_NOT_SERVED: u32 = 3003;
    pub const TOO_BUSY: u32 = 3004;
    pub const LOOP_DETECTED: u32 = 3005;
    pub const REDIRECT_INDICATION: u32 = 3006;
    pub const APPLICATION_UNSUPPORTED: u32 = 3007;
    pub const INVALID_HDR_BITS: u32 = 3008;
    pub const INVALID_AVP_BITS: u32 = 3009;
    pub const UNKNOWN_PEER: u32 = 3010;
    pub const AUTHENTICATION_REJECTED: u32 = 4001;
    pub const OUT_OF_SPACE: u32 = 4002;
    pub const ELECTION_LOST: u32 = 4003;
    /// RFC 4004 §6.1: the home agent's Registration Reply failed.
    pub const ERROR_MIP_REPLY_FAILURE: u32 = 4005;
    /// RFC 4004 §6.1.
    pub const ERROR_HA_NOT_AVAILABLE: u32 = 4006;
    /// RFC 4004 §6.1.
    pub const ERROR_BAD_KEY: u32 = 4007;
    /// RFC 4004 §6.1.
    pub const ERROR_MIP_FILTER_NOT_SUPPORTED: u32 = 4008;
    pub const AVP_UNSUPPORTED: u32 = 5001;
    pub const UNKNOWN_SESSION_ID: u32 = 5002;
    pub const AUTHORIZATION_REJECTED: u32 = 5003;
    pub const INVALID_AVP_VALUE: u32 = 5004;
    pub const MISSING_AVP: u32 = 5005;
    pub const RESOURCES_EXCEEDED: u32 = 5006;
    pub const CONTRADICTING_AVPS: u32 = 5007;
    pub const AVP_NOT_ALLOWED: u32 = 5008;
    pub const AVP_OCCURS_TOO_MANY_TIMES: u32 = 5009;
    pub const NO_COMMON_APPLICATION: u32 = 5010;
    pub const UNSUPPORTED_VERSION: u32 = 5011;
    pub const UNABLE_TO_COMPLY: u32 = 5012;
    pub const INVALID_BIT_IN_HEADER: u32 = 5013;
    pub const INVALID_AVP_LENGTH: u32 = 5014;
    pub const INVALID_MESSAGE_LENGTH: u32 = 5015;
    pub const INVALID_AVP_BIT_COMBO: u32 = 5016;
    pub const NO_COMMON_SECURITY: u32 = 5017;
    /// RFC 4004 §6.2.
    pub const ERROR_NO_FOREIGN_HA_SERVICE: u32 = 5024;
    /// RFC 4004 §6.2.
    pub const ERROR_END_TO_END_MIP_KEY_ENCRYPTION: u32 = 5025;

    /// Whether a Result-Code is a protocol error (3xxx), answered with the E bit set.
    pub fn is_protocol_error(code: u32) -> bool {
        (3000..4000).contains(&code)
    }
}

/// Disconnect-Cause values (RFC 6733 §5.4.3).
pub mod disconnect_cause {
    pub const REBOOTING: u32 = 0;
    pub const BUSY: u32 = 1;
    pub const DO_NOT_WANT_TO_TALK_TO_YOU: u32 = 2;
}

/// Auth-Session-State values (RFC 6733 §8.11).
pub mod auth_session_state {
    pub const STATE_MAINTAINED: u32 = 0;
    pub const NO_STATE_MAINTAINED: u32 = 1;
}

/// MIP-Feature-Vector flag bits (RFC 4004 §7.5).
pub mod mip_feature {
    pub const MOBILE_NODE_HOME_ADDRESS_REQUESTED: u32 = 1;
    pub const HOME_ADDRESS_ALLOCATABLE_ONLY_IN_HOME_REALM: u32 = 2;
    pub const HOME_AGENT_REQUESTED: u32 = 4;
    pub const FOREIGN_HOME_AGENT_AVAILABLE: u32 = 8;
    pub const MN_HA_KEY_REQUEST: u32 = 16;
    pub const MN_FA_KEY_REQUEST: u32 = 32;
    pub const FA_HA_KEY_REQUEST: u32 = 64;
    pub const HOME_AGENT_IN_FOREIGN_NETWORK: u32 = 128;
    pub const CO_LOCATED_MOBILE_NODE: u32 = 256;
}

/// MIP-Algorithm-Type and MIP-Replay-Mode values (RFC 4004 §7.8, §7.9).
pub mod mip_values {
    pub const ALGORITHM_HMAC_SHA1: u32 = 2;
    pub const REPLAY_NONE: u32 = 1;
    pub const REPLAY_TIMESTAMPS: u32 = 2;
    pub const REPLAY_NONCES: u32 = 3;
}
