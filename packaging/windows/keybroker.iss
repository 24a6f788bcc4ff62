; SPDX-License-Identifier: Apache-2.0
; Inno Setup 6 script: a per-user installer for the one-folder Windows bundle (packaging/README.md).
;
;   pyinstaller --noconfirm packaging\keybroker.spec      -> dist\keybroker\ (Keybroker.exe, keybroker-cli.exe)
;   iscc /DAppVersion=0.1.0 packaging\windows\keybroker.iss  -> dist\Keybroker-0.1.0-setup.exe
;
; Installs for the current user only (no administrator rights), adds a Start-menu shortcut, and no
; autostart: "Start at login" is the user's choice in Keybroker's settings (the per-user Run key).

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif

[Setup]
AppId=io.github.keybroker.Keybroker
AppName=Keybroker
AppVersion={#AppVersion}
AppPublisher=Keybroker developers
DefaultDirName={localappdata}\Programs\Keybroker
DefaultGroupName=Keybroker
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=Keybroker-{#AppVersion}-setup
SetupIconFile=..\..\build\icons\keybroker.ico
UninstallDisplayIcon={app}\Keybroker.exe
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Files]
Source: "..\..\dist\keybroker\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{userprograms}\Keybroker"; Filename: "{app}\Keybroker.exe"; IconFilename: "{app}\Keybroker.exe"

[Run]
Filename: "{app}\Keybroker.exe"; Description: "Start Keybroker"; Flags: nowait postinstall skipifsilent

[Registry]
; Creates nothing; on uninstall, removes the login entry Keybroker's settings may have written.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: none; ValueName: "Keybroker"; Flags: uninsdeletevalue dontcreatekey
