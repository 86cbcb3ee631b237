// The API's use of the cache: catalog lookups (price lists, plans, FX rates)
// served from Redis with the lookup tables of the API's own database as the
// guarded fallback. Routes: src/api/catalogRoutes.ts.

export * from './catalogLookups.ts';
export * from './catalogLookupStore.ts';
export * from './catalogPool.ts';
export * from './catalogSchemas.ts';
export * from './openCatalogLookups.ts';
export * from './lookupLoad.ts';
