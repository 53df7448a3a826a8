"""The ground floor: records, config, errors, the store and the one module that owns each table. Imports nothing
from the floors above (voice, platforms, jobs, shell)."""
