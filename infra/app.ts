/**
 * The CDK app: `npm run synth` (offline, no account needed) or `npx cdk deploy [-c config=deploy.json]`.
 * cdk-nag's AWS Solutions pack runs on every synthesis; a finding fails it.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadDeployConfig } from './config.js';
import { CrmMetricsStack } from './stack.js';

export function buildApp(app: App = new App()): { app: App; stack: CrmMetricsStack } {
  const config = loadDeployConfig(app.node.tryGetContext('config'));
  const stack = new CrmMetricsStack(app, config.stackName, {
    config,
    env: { account: process.env['CDK_DEFAULT_ACCOUNT'], region: process.env['CDK_DEFAULT_REGION'] },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
