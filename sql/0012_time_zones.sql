-- Customer time zones (time.md): the calendar of a customer's subscriptions is kept on its
-- wall clock. Names are checked by the service against the tz database (Foundation's
-- TimeZone); a subscription copies its customer's at creation, and a customer with a live
-- subscription cannot change it (the customer's row lock decides), so a renewal never
-- needs the customer's row to know its calendar.
ALTER TABLE customers ADD COLUMN timezone text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64);
ALTER TABLE subscriptions ADD COLUMN timezone text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64);
