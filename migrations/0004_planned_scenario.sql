-- Access and coverage may count planned centres as serving ("with the plan", after siting adopts
-- sites); the results record which view they describe.
ALTER TABLE access_runs ADD COLUMN planned boolean NOT NULL DEFAULT false;
ALTER TABLE coverage_kpis ADD COLUMN planned boolean NOT NULL DEFAULT false;
