import { transportContract, networkHarness, testPki } from './contract.ts';
import * as websocket from './websocket.ts';

transportContract('websocket', async () => networkHarness(websocket, 'tcp', await testPki()));
