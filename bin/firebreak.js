#!/usr/bin/env node
// Thin launcher so `npx firebreak` works: Node >=22.18 runs the TypeScript sources directly.
import '../src/cli/main.ts';
