/** The rule id of a request policy judges but could not read: denied under enforce, recorded under audit. */
export const DECODE_RULE = 'decode';
