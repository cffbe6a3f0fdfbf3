// The app the CDK CLI runs (cdk.json); it synthesizes on exit.
import { buildApp } from './app.js';

buildApp();
