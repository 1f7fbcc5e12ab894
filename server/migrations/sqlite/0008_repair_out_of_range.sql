-- Expiry times stored before requests were checked may lie past the year
-- 9999 (a CreateApiKey ttl of any length was accepted): no Timestamp can
-- say them. Clamp them to the last millisecond of 9999.
UPDATE api_keys SET expire_ms = 253402300799999 WHERE expire_ms > 253402300799999;
UPDATE approvals SET expire_ms = 253402300799999 WHERE expire_ms > 253402300799999;
