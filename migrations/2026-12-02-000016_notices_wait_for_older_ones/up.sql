-- A channel's notices go out one at a time, oldest first: a deliverer looks for an
-- older pending notice of the same channel before leasing one.
CREATE INDEX notifications_pending_by_channel ON notifications (channel_id, created_at, id)
    WHERE status = 'PENDING';
