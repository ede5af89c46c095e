-- One PostgreSQL server, one database per component. Run once by the postgres image on an
-- empty volume (docker-entrypoint-initdb.d).
CREATE DATABASE nba;
CREATE DATABASE mlflow;
CREATE DATABASE prefect;
