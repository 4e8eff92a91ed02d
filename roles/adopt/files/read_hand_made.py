# Runs inside a one-off container of the hand-made Prefect service (its image, its
# environment), so it reaches the database exactly as that server does and needs nothing
# installed on the host. Its one argument (adopt__reader_bootstrap puts it there) is JSON,
# {"url": ...}: the URL that replaces the service environment's (adopt_database_url). Prints one JSON
# object: the release, the database's state and what it holds. Never prints the URL.
import asyncio
import json
import os
import sys

SETTINGS = ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL")
COUNTED = ("flow", "flow_run", "deployment", "work_pool", "block_document", "log")


def known_revisions():
    """The PostgreSQL schema revisions this release's migrations know (the database's must
    be one of them); None when the release's layout does not say."""
    from alembic.script import ScriptDirectory
    import prefect.server.database
    from prefect.server.database.alembic_commands import alembic_config

    config = alembic_config()
    # Prefect's migration environment picks the dialect's directory when it runs.
    config.set_main_option(
        "version_locations",
        os.path.join(os.path.dirname(prefect.server.database.__file__), "migrations", "versions", "postgresql"),
    )
    revisions = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    return revisions or None


async def read_database(url):
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=10)
    try:
        found = {
            "server_version": await connection.fetchval("SHOW server_version"),
            "revision": await connection.fetchval("SELECT version_num FROM alembic_version"),
            "counts": {table: await connection.fetchval(f"SELECT count(*) FROM {table}") for table in COUNTED},
            "pools": [dict(row) for row in await connection.fetch("SELECT name, type FROM work_pool ORDER BY name")],
            "deployment_pools": [
                row["name"]
                for row in await connection.fetch(
                    "SELECT DISTINCT work_pool.name FROM deployment"
                    " JOIN work_queue ON deployment.work_queue_id = work_queue.id"
                    " JOIN work_pool ON work_queue.work_pool_id = work_pool.id ORDER BY work_pool.name"
                )
            ],
        }
    finally:
        await connection.close()
    return found


def main(config):
    import prefect

    url = config.get("url") or next((os.environ[name] for name in SETTINGS if os.environ.get(name)), "")
    result = {"prefect_version": prefect.__version__, "database": {"reachable": False}}
    try:
        result["database"].update(asyncio.run(read_database(url)), reachable=True)
    except Exception as error:  # noqa: BLE001 - any failure to connect is reported, not raised
        # The message of a connection error may hold the host, never the password.
        result["database"]["error"] = f"{type(error).__name__}: {error}".replace(url, "<the database URL>")
    if result["database"]["reachable"]:
        revisions = known_revisions()
        result["database"]["revision_known"] = None if revisions is None else result["database"]["revision"] in revisions
    print(json.dumps(result))


main(json.loads(sys.argv[1]))
