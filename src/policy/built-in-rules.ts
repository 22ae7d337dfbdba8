/** The rule id of a request policy judges but could not read: denied under enforce, recorded under audit. */
export const DECODE_RULE = 'decode';

/** The rule id of a call to a gRPC service other than CRI's (and the policy's allowedServices). */
export const SERVICES_RULE = 'services';
