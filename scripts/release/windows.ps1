# SPDX-License-Identifier: Apache-2.0
<#
The Windows leg of a release (.github/workflows/release.yml), one step per call, in this order:

  bundle          .venv-package, then PyInstaller from packaging\keybroker.spec -> dist\keybroker\
                  (Keybroker.exe: the tray app, windowed; keybroker-cli.exe: the same as a console program)
  sign-programs   only with the signing secrets: signtool on both programs, before they go into the installer
  self-test       dist\keybroker\keybroker-cli.exe --self-test: must open Qt's windows platform and pass
  installer       Inno Setup 6 (installed with Chocolatey when the runner lacks it) on
                  packaging\windows\keybroker.iss -> dist\Keybroker-<version>-setup.exe
  sign-installer  only with the secrets: signtool on the setup program
  installer-test  a silent per-user install, --self-test of the installed program, the Start-menu entry,
                  then a silent uninstall that must remove both

Usage (PowerShell 7, from anywhere): scripts\release\windows.ps1 -Step bundle
Env: PYTHON (default python, 3.11 64-bit); for signing WINDOWS_CERTIFICATE_PFX (base64 .pfx) and
WINDOWS_CERTIFICATE_PASSWORD. A certificate kept in a hardware token or a cloud HSM needs its vendor's
signing step instead (packaging/README.md).
#>
param(
    [Parameter(Mandatory = $true)]
    [ValidateSet('bundle', 'sign-programs', 'self-test', 'installer', 'sign-installer', 'installer-test')]
    [string] $Step
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '..\..')).Path
Set-Location $RepoRoot
$Python = if ($env:PYTHON) { $env:PYTHON } else { 'python' }
$Bundle = Join-Path $RepoRoot 'dist\keybroker'
# packaging/spec_settings.py names these (settings_for('win32')); the installer's shortcut starts the first.
$TrayProgram = 'Keybroker.exe'
$CliProgram = 'keybroker-cli.exe'
$Iss = 'packaging\windows\keybroker.iss'
$TimestampUrl = 'http://timestamp.digicert.com'
$InstallDir = Join-Path $env:LOCALAPPDATA 'Programs\Keybroker'
$StartMenuEntry = Join-Path $env:APPDATA 'Microsoft\Windows\Start Menu\Programs\Keybroker.lnk'

function Invoke-Native([string] $File, [string[]] $Arguments) {
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$File exited $LASTEXITCODE" }
}

function Get-Version { (& $Python scripts\release\version.py).Trim() }

function Get-SetupPath { Join-Path $RepoRoot "dist\Keybroker-$(Get-Version)-setup.exe" }

function Assert-Env([string[]] $Names) {
    foreach ($name in $Names) {
        if (-not [Environment]::GetEnvironmentVariable($name)) {
            throw "$name is not set (a repository secret; see packaging/README.md)"
        }
    }
}

function Invoke-Bundle {
    Invoke-Native $Python @('-m', 'venv', '.venv-package')
    Invoke-Native '.venv-package\Scripts\python.exe' @('-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-e', '.[package]')
    if (Test-Path $Bundle) { Remove-Item -Recurse -Force $Bundle }
    Invoke-Native '.venv-package\Scripts\pyinstaller.exe' @('--noconfirm', '--clean', '--log-level', 'WARN',
        '--distpath', 'dist', '--workpath', 'build\pyinstaller', 'packaging\keybroker.spec')
    foreach ($program in @($TrayProgram, $CliProgram)) {
        if (-not (Test-Path (Join-Path $Bundle $program))) { throw "PyInstaller made no $Bundle\$program" }
    }
}

# --self-test of a console program with a throw-away KEYBROKER_HOME; the real vault (Credential Manager).
function Test-SelfTest([string] $Program) {
    $scratch = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "keybroker-$([guid]::NewGuid())")
    $env:KEYBROKER_HOME = $scratch.FullName
    Remove-Item Env:KEYBROKER_VAULT -ErrorAction SilentlyContinue
    # Qt may warn on stderr; that is part of the log, not a failure.
    $ErrorActionPreference = 'Continue'
    try {
        $out = @(& $Program --self-test 2>&1 | ForEach-Object { "$_" })
        $rc = $LASTEXITCODE
    } finally {
        $ErrorActionPreference = 'Stop'
        Remove-Item Env:KEYBROKER_HOME
        Remove-Item -Recurse -Force $scratch
    }
    $out | ForEach-Object { Write-Host "    $_" }
    if ($rc -ne 0) { throw "$Program --self-test exited $rc" }
    if (-not ($out | Where-Object { $_ -like 'qt: windows *' })) { throw "$Program --self-test did not open Qt's windows platform" }
    if ($out -notcontains 'self-test passed') { throw "$Program --self-test did not say it passed" }
}

function Find-SignTool {
    $kits = Join-Path ${env:ProgramFiles(x86)} 'Windows Kits\10\bin'
    $tool = Get-ChildItem -Path $kits -Recurse -Filter signtool.exe -ErrorAction SilentlyContinue |
        Where-Object { $_.FullName -like '*\x64\signtool.exe' } | Sort-Object FullName -Descending | Select-Object -First 1
    if (-not $tool) { throw "signtool.exe not found under $kits (the Windows SDK)" }
    $tool.FullName
}

function Invoke-Sign([string[]] $Files) {
    Assert-Env @('WINDOWS_CERTIFICATE_PFX', 'WINDOWS_CERTIFICATE_PASSWORD')
    $signtool = Find-SignTool
    $pfx = Join-Path ([IO.Path]::GetTempPath()) "keybroker-$([guid]::NewGuid()).pfx"
    [IO.File]::WriteAllBytes($pfx, [Convert]::FromBase64String($env:WINDOWS_CERTIFICATE_PFX))
    try {
        Invoke-Native $signtool (@('sign', '/f', $pfx, '/p', $env:WINDOWS_CERTIFICATE_PASSWORD, '/fd', 'sha256',
                '/tr', $TimestampUrl, '/td', 'sha256') + $Files)
    } finally {
        Remove-Item -Force $pfx
    }
    Invoke-Native $signtool (@('verify', '/pa', '/v') + $Files)
}

function Find-Iscc {
    $candidates = @("${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe", "$env:ProgramFiles\Inno Setup 6\ISCC.exe")
    $found = $candidates | Where-Object { Test-Path $_ } | Select-Object -First 1
    if ($found) { return $found }
    # Not every runner image carries Inno Setup; Chocolatey is on all of them.
    Invoke-Native 'choco' @('install', 'innosetup', '--no-progress', '-y')
    $found = $candidates | Where-Object { Test-Path $_ } | Select-Object -First 1
    if (-not $found) { throw 'Inno Setup 6 (ISCC.exe) not found after installing it' }
    $found
}

function Invoke-Installer {
    $version = Get-Version
    Invoke-Native (Find-Iscc) @("/DAppVersion=$version", $Iss)
    $setup = Get-SetupPath
    if (-not (Test-Path $setup)) { throw "Inno Setup made no $setup (see OutputBaseFilename in $Iss)" }
    Get-FileHash -Algorithm SHA256 $setup | Format-List
}

function Wait-Gone([string] $Path, [int] $Seconds) {
    $deadline = (Get-Date).AddSeconds($Seconds)
    while ((Test-Path $Path) -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 500 }
    -not (Test-Path $Path)
}

function Test-Installer {
    $setup = Get-SetupPath
    $install = Start-Process -FilePath $setup -ArgumentList '/VERYSILENT', '/SUPPRESSMSGBOXES', '/NORESTART' -Wait -PassThru
    if ($install.ExitCode -ne 0) { throw "$setup exited $($install.ExitCode)" }
    foreach ($program in @($TrayProgram, $CliProgram)) {
        if (-not (Test-Path (Join-Path $InstallDir $program))) { throw "the installer put no $program in $InstallDir" }
    }
    if (-not (Test-Path $StartMenuEntry)) { throw "the installer made no Start-menu entry $StartMenuEntry" }
    Test-SelfTest (Join-Path $InstallDir $CliProgram)
    $uninstall = Start-Process -FilePath (Join-Path $InstallDir 'unins000.exe') `
        -ArgumentList '/VERYSILENT', '/SUPPRESSMSGBOXES', '/NORESTART' -Wait -PassThru
    if ($uninstall.ExitCode -ne 0) { throw "the uninstaller exited $($uninstall.ExitCode)" }
    # Inno's uninstaller finishes from a copy of itself in a temp folder: give it time to delete.
    if (-not (Wait-Gone (Join-Path $InstallDir $CliProgram) 60)) { throw "uninstalling left $InstallDir\$CliProgram" }
    if (-not (Wait-Gone $StartMenuEntry 10)) { throw "uninstalling left $StartMenuEntry" }
}

switch ($Step) {
    'bundle' { Invoke-Bundle }
    'sign-programs' { Invoke-Sign @((Join-Path $Bundle $TrayProgram), (Join-Path $Bundle $CliProgram)) }
    'self-test' { Test-SelfTest (Join-Path $Bundle $CliProgram) }
    'installer' { Invoke-Installer }
    'sign-installer' { Invoke-Sign @(Get-SetupPath) }
    'installer-test' { Test-Installer }
}
