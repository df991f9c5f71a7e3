-- SPDX-License-Identifier: MIT
-- inboxq schema, version 5: compress stored mail with lz4 instead of pglz. Storing a batch of
-- messages spent more than half its time in pglz; lz4 compresses text mail nearly as well at a
-- fraction of the cost. A server built without lz4 stores raw uncompressed instead.
DO $$
BEGIN
    ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    ALTER TABLE messages ALTER COLUMN raw SET STORAGE EXTERNAL;
END
$$;
