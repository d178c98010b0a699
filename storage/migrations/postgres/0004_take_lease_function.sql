-- A turn's lease and its question windows, checked and taken in one call: one round trip to
-- the server on every turn's path instead of eight (begin, lock, delete, count, window,
-- count it, insert, commit). The same steps as before, in the same order, under the same
-- advisory locks, taken before anything is read: each statement in a function reads a fresh
-- snapshot, so what is counted is what the other holders of the lock committed.
--
-- These rows live seconds, so each call commits without waiting for the WAL to reach the
-- disk (synchronous_commit off, for its own transaction only), as SQLite commits them with
-- synchronous=NORMAL: a crash of the server may lose the last few, never corrupt anything,
-- and a lost lease only frees a slot early. Keys and usage keep the server's setting.
CREATE FUNCTION byok_take_lease(
    lock_keys bigint[],
    lease_bucket text,
    lease_holder text,
    lease_limit integer,
    lease_until timestamptz,
    now_at timestamptz,
    window_buckets text[],
    window_limits integer[],
    window_spans interval[]
) RETURNS TABLE (refused text, refused_window integer, frees_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    position integer;
    in_the_way timestamptz;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(k) FROM unnest(lock_keys) AS k;
    -- A dead process's leases end here, for this bucket, whether a sweep is due or not.
    DELETE FROM turn_leases WHERE bucket = lease_bucket AND expires_at <= now_at;
    IF (SELECT COUNT(*) FROM turn_leases WHERE bucket = lease_bucket) >= lease_limit THEN
        RETURN QUERY SELECT 'slots'::text, NULL::integer, NULL::timestamptz;
        RETURN;
    END IF;
    FOR position IN 1 .. COALESCE(array_length(window_buckets, 1), 0) LOOP
        -- The `limit`-th newest attempt still inside the span: when there is one, the
        -- window is full, and it has room again once that attempt leaves the span.
        SELECT at INTO in_the_way FROM rate_attempts
            WHERE bucket = window_buckets[position] AND at > now_at - window_spans[position]
            ORDER BY at DESC OFFSET window_limits[position] - 1 LIMIT 1;
        IF in_the_way IS NOT NULL THEN
            RETURN QUERY SELECT 'window'::text, position - 1, in_the_way + window_spans[position];
            RETURN;
        END IF;
    END LOOP;
    INSERT INTO rate_attempts (bucket, at, expires_at)
        SELECT bucket, now_at, now_at + span
        FROM unnest(window_buckets, window_spans) AS counted(bucket, span);
    INSERT INTO turn_leases (bucket, holder, expires_at)
        VALUES (lease_bucket, lease_holder, lease_until);
    RETURN QUERY SELECT NULL::text, NULL::integer, NULL::timestamptz;
END;
$$;

CREATE FUNCTION byok_renew_lease(
    lease_bucket text, lease_holder text, lease_until timestamptz, now_at timestamptz
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    UPDATE turn_leases SET expires_at = lease_until
        WHERE bucket = lease_bucket AND holder = lease_holder AND expires_at > now_at;
    RETURN FOUND;
END;
$$;

CREATE FUNCTION byok_release_lease(lease_bucket text, lease_holder text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    DELETE FROM turn_leases WHERE bucket = lease_bucket AND holder = lease_holder;
END;
$$;
