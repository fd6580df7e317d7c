CREATE TABLE branches (name TEXT PRIMARY KEY, city TEXT NOT NULL, manager TEXT NOT NULL);
CREATE TABLE sales (branch TEXT NOT NULL REFERENCES branches(name), product TEXT NOT NULL,
                    month INTEGER NOT NULL, new_users INTEGER NOT NULL, revenue INTEGER NOT NULL);
